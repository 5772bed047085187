"""The ops console at ``/ops``: server-rendered pages for people (ops staff), signed in with a password.

Machines keep API keys (the JSON API); the console never accepts a key and
the JSON API never accepts a console session. See :mod:`tracker.console.views`.
"""
