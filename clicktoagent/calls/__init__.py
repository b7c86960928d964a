"""The call domain: what a call is (``request.py``), creating, retrying and cancelling
attempts (``services.py``), calling contacts (``contacts.py``), reading attempts and who
may see them (``selectors.py``) and showing them to people (``display.py``).

Sending is the engine's (``clicktoagent.dispatch``); this package only queues it.
"""
