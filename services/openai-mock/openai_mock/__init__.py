"""An OpenAI-compatible fake of the Images API with selectable failure behaviours.

Used by the test suite, the kind end-to-end job and offline development. Build an app with
:func:`openai_mock.app.create_app`; run a server with ``python -m openai_mock``.
"""

__version__ = "0.1.0"
