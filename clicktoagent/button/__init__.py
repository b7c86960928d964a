"""The call button of ``{% clicktoagent_button %}``: its signed tokens (``tokens.py``) and
the JSON endpoint it posts to (``views.py``)."""
