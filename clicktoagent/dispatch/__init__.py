"""The sending engine: claim a pending attempt, send it to DialogTech, record how it
ended, and retry, postpone or reconcile what could not go out.

``services.py`` sends one attempt once and says when to try again (``claim.py`` holds
the two statements it runs most); ``tasks.py`` runs it through the task backend or the
Redis dispatch queue (``redis_queue.py``) and is the only module that queues it;
``outcome.py`` records how an attempt ended; ``reconcile.py`` repairs lost tasks and
lost workers; ``breaker.py`` and ``rate_limit.py`` protect DialogTech; ``dispatcher.py``,
``workers.py`` and ``health.py`` serve the processes that run it all. It never imports
the call domain (``clicktoagent.calls``) or an entry point: import-linter checks it.
"""
