"""Use cases that the web UI, the REST API and the CLI all call: no Flask here."""
