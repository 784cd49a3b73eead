"""The object model: pure functions and small value types.

Rule: nothing in ``core`` does IO or imports SQLAlchemy, Flask or boto3. Hashing,
canonical serialization and validation live here so that they can be tested without a
database and reused unchanged by every layer above (checked by import-linter).
"""
