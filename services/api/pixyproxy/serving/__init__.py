"""Serving PixyProxy: the start-up decisions (``startup.py``, the composition root) and
gunicorn with uvicorn workers (``gunicorn_conf.py``, ``server.py``)."""
