"""The built-in starter templates (English and Italian), read-only, ids ``starter-<locale>``.

A campaign may use one as it is; to change one, create a template from its fields.
"""

from __future__ import annotations

from typing import Any

_STYLE = """<style>
body { font-family: Helvetica, Arial, sans-serif; color: #222222; }
h1 { font-size: 24px; margin: 0 0 16px 0; }
p { font-size: 16px; line-height: 24px; margin: 0 0 16px 0; }
.footer { font-size: 12px; color: #777777; }
</style>"""

_EN = (
    _STYLE
    + """
<div>
<h1>Hello {{ first_name or "there" }},</h1>
<p>Write your message here.</p>
<p>{{ sender_name }}</p>
<p class="footer">You receive this email from {{ sender_name }} because you subscribed.
<a href="{{ unsubscribe_url }}">Unsubscribe</a> ·
<a href="{{ preferences_url }}">Email preferences</a> ·
<a href="{{ my_data_url }}">Your data</a> ·
<a href="{{ view_online_url }}">View online</a></p>
</div>"""
)

_IT = (
    _STYLE
    + """
<div>
<h1>Ciao {{ first_name or "" }},</h1>
<p>Scrivi qui il tuo messaggio.</p>
<p>{{ sender_name }}</p>
<p class="footer">Ricevi questa email da {{ sender_name }} perché ti sei iscritto.
<a href="{{ unsubscribe_url }}">Annulla l'iscrizione</a> ·
<a href="{{ preferences_url }}">Preferenze email</a> ·
<a href="{{ my_data_url }}">I tuoi dati</a> ·
<a href="{{ view_online_url }}">Vedi online</a></p>
</div>"""
)

STARTERS: dict[str, dict[str, Any]] = {
    "starter-en": {
        "id": "starter-en",
        "name": "Starter (English)",
        "locale": "en",
        "category": "marketing",
        "subject": "News from {{ sender_name }}",
        "preheader": "What is new this month",
        "html_body": _EN,
        "text_body": "",
        "revision": 1,
    },
    "starter-it": {
        "id": "starter-it",
        "name": "Modello base (italiano)",
        "locale": "it",
        "category": "marketing",
        "subject": "Novità da {{ sender_name }}",
        "preheader": "Cosa c'è di nuovo questo mese",
        "html_body": _IT,
        "text_body": "",
        "revision": 1,
    },
}
