"""What the three web apps (the EMR, the station, the AI node's page) share.

- :mod:`~imaging_common.web.foundation`: cookie and CSRF settings, the security
  headers, log-in wiring, the request log and the error pages every app gets;
- :mod:`~imaging_common.web.redirects`: the ``next=`` target after a log-in;
- :mod:`~imaging_common.web.spreadsheet`: cells of exported CSV files that a
  spreadsheet cannot take for formulas;
- :mod:`~imaging_common.web.database`: an app's engine and its per-request session;
- :mod:`~imaging_common.web.sign_on`: signing people on through the EMR, the
  identity source, for the station and the AI node's page;
- :mod:`~imaging_common.web.serving`: the production server (Cheroot), HTTPS and
  trusted proxies;
- ``templates/fovea/`` and ``static/fovea.css``: the layout, form macros, error
  page and stylesheet every app's pages build on.

Password guessing is throttled where passwords are typed, at the EMR
(:func:`emr.accounts.authenticate`).
"""
