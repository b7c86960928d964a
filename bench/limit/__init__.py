"""The limit: the least a Django project can do for the same essential work as the app.

``settings.py``/``views.py``/``wsgi.py``: a minimal Django project whose two views are the
ceiling for the app's API create+dispatch and webhook ingest; ``worker.py``: a plain loop
that is the ceiling for one dispatch worker. ``schema.py`` makes their tables. The
benchmarks in ``bench/`` compare the app with them (bench/README.md).
"""
