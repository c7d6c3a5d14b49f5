"""The kiosk's own files that are not code, installed as the package `kiosk.assets`
(setup.py maps this folder to it), so a checkout and an installed kiosk find them alike.

- `locale/<catalog>/LC_MESSAGES/kiosk.po`: the translation catalogs (docs/translating.md),
  compiled to `kiosk.mo` when the kiosk is built or installed; only the `.mo` files ship.
- `voice/<lang>/<outcome>.ogg|.wav`: recorded spoken results, which take precedence over
  espeak-ng's (docs/voice.md).
"""
