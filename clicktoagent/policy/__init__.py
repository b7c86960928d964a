"""Safe calling: the rules checked before every dial (docs/safe-calling.md).

Asked by ``calls`` when an attempt is created and by ``dispatch`` right before it is sent;
it imports neither.
"""
