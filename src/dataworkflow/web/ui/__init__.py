"""The ``ui`` blueprint: server-rendered pages, readable without JavaScript.

The whole URL scheme (klaus-style: one table to read)::

    /                                      ui.home         every repository
    /<repo>                                ui.repo_home    default branch: root listing + README
    /<repo>/tree/<rev>[/<path>]            ui.tree         folder listing
    /<repo>/blob/<rev>/<path>              ui.blob         file page with preview
    /<repo>/raw/<rev>/<path>               ui.raw          bytes (range, ETag; ?download=1)
    /<repo>/commits/<rev>[/<path>]         ui.commits      history, keyset-paginated (?cursor=)
    /<repo>/commit/<rev>                   ui.commit       one commit and its changed files
    /<repo>/branches                       ui.branches     list; POST creates a branch
    /<repo>/branches/delete                ui.delete_branch  POST
    /<repo>/tags                           ui.tags
    /<repo>/compare/<base>...<head>        ui.compare      commits + file diffs (?key=, ?view=split)
    /<repo>/compare/<base>...<head>/merge  ui.merge        POST: merge head into branch base
    /<repo>/upload/<rev>[/<path>]          ui.upload       GET form, POST commits the files
    /login, /logout, /signup               ui.login ...    sign in and out; the first account
    /settings                              ui.settings     your profile, password, API tokens
    /settings/profile|password|tokens[/revoke]             POST targets of its forms
    /admin/users                           ui.admin_users  users; POST creates one (site admins)
    /admin/users/update                    ui.admin_update_user  POST: admin flag, disable
    /new                                   ui.new_repository  GET form, POST creates a repository
    /<repo>/settings                       ui.repo_settings   details, collaborators, protected
                                                              branches, deletion (repo admins)
    /<repo>/activity                       ui.activity     the ref log (?ref=, ?before=)

``<rev>/<path>`` is one URL segment run: branch names may contain ``/``, so the longest
prefix that names a branch or tag is the revision (see ``services.resolve``).
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("ui", __name__)

from dataworkflow.web.ui import (  # noqa: E402
    account,
    activity,
    admin,
    blob,
    branches,
    commits,
    compare,
    maintenance,
    new_repo,
    repo_settings,
    repos,
    search,
    settings,
    tree,
    upload,
)

__all__ = [
    "account",
    "activity",
    "admin",
    "blob",
    "bp",
    "branches",
    "commits",
    "compare",
    "maintenance",
    "new_repo",
    "repo_settings",
    "repos",
    "search",
    "settings",
    "tree",
    "upload",
]
