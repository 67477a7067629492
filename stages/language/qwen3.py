"""The 119 languages and dialects Qwen3 was trained on, and which fastText lid.176 label covers each.

From the language table of the Qwen3 release (the same table ships in the Qwen3-Embedding,
Qwen3-Reranker and Qwen3Guard model cards). ``label`` is the lid.176 label that identifies the
language (None: lid.176 has no label for it); ``exact`` is False where the label is broader than
the language (Arabic dialects are all ``ar`` except Egyptian, Traditional Chinese is ``zh``,
Dari is ``fa``, Bhojpuri falls under ``bh`` (Bihari), Norwegian Bokmål is ``no``).
"""

from __future__ import annotations

from typing import NamedTuple


class QwenLanguage(NamedTuple):
    """One Qwen3 language: name, family, the lid.176 label that covers it, and whether it is exact."""

    name: str
    family: str
    label: str | None
    exact: bool = True


_IE = "Indo-European"
QWEN3_LANGUAGES: tuple[QwenLanguage, ...] = (
    QwenLanguage("English", _IE, "en"), QwenLanguage("French", _IE, "fr"), QwenLanguage("Portuguese", _IE, "pt"),
    QwenLanguage("German", _IE, "de"), QwenLanguage("Romanian", _IE, "ro"), QwenLanguage("Swedish", _IE, "sv"),
    QwenLanguage("Danish", _IE, "da"), QwenLanguage("Bulgarian", _IE, "bg"), QwenLanguage("Russian", _IE, "ru"),
    QwenLanguage("Czech", _IE, "cs"), QwenLanguage("Greek", _IE, "el"), QwenLanguage("Ukrainian", _IE, "uk"),
    QwenLanguage("Spanish", _IE, "es"), QwenLanguage("Dutch", _IE, "nl"), QwenLanguage("Slovak", _IE, "sk"),
    QwenLanguage("Croatian", _IE, "hr"), QwenLanguage("Polish", _IE, "pl"), QwenLanguage("Lithuanian", _IE, "lt"),
    QwenLanguage("Norwegian Bokmål", _IE, "no", False), QwenLanguage("Norwegian Nynorsk", _IE, "nn"),
    QwenLanguage("Persian", _IE, "fa"), QwenLanguage("Slovenian", _IE, "sl"), QwenLanguage("Gujarati", _IE, "gu"),
    QwenLanguage("Latvian", _IE, "lv"), QwenLanguage("Italian", _IE, "it"), QwenLanguage("Occitan", _IE, "oc"),
    QwenLanguage("Nepali", _IE, "ne"), QwenLanguage("Marathi", _IE, "mr"), QwenLanguage("Belarusian", _IE, "be"),
    QwenLanguage("Serbian", _IE, "sr"), QwenLanguage("Luxembourgish", _IE, "lb"), QwenLanguage("Venetian", _IE, "vec"),
    QwenLanguage("Assamese", _IE, "as"), QwenLanguage("Welsh", _IE, "cy"), QwenLanguage("Silesian", _IE, None),
    QwenLanguage("Asturian", _IE, "ast"), QwenLanguage("Chhattisgarhi", _IE, None), QwenLanguage("Awadhi", _IE, None),
    QwenLanguage("Maithili", _IE, "mai"), QwenLanguage("Bhojpuri", _IE, "bh", False), QwenLanguage("Sindhi", _IE, "sd"),
    QwenLanguage("Irish", _IE, "ga"), QwenLanguage("Faroese", _IE, None), QwenLanguage("Hindi", _IE, "hi"),
    QwenLanguage("Punjabi", _IE, "pa"), QwenLanguage("Bengali", _IE, "bn"), QwenLanguage("Oriya", _IE, "or"),
    QwenLanguage("Tajik", _IE, "tg"), QwenLanguage("Eastern Yiddish", _IE, "yi"), QwenLanguage("Lombard", _IE, "lmo"),
    QwenLanguage("Ligurian", _IE, None), QwenLanguage("Sicilian", _IE, "scn"), QwenLanguage("Friulian", _IE, None),
    QwenLanguage("Sardinian", _IE, "sc"), QwenLanguage("Galician", _IE, "gl"), QwenLanguage("Catalan", _IE, "ca"),
    QwenLanguage("Icelandic", _IE, "is"), QwenLanguage("Tosk Albanian", _IE, "sq"),
    QwenLanguage("Limburgish", _IE, "li"), QwenLanguage("Dari", _IE, "fa", False),
    QwenLanguage("Afrikaans", _IE, "af"), QwenLanguage("Macedonian", _IE, "mk"), QwenLanguage("Sinhala", _IE, "si"),
    QwenLanguage("Urdu", _IE, "ur"), QwenLanguage("Magahi", _IE, None), QwenLanguage("Bosnian", _IE, "bs"),
    QwenLanguage("Armenian", _IE, "hy"),
    QwenLanguage("Simplified Chinese", "Sino-Tibetan", "zh"),
    QwenLanguage("Traditional Chinese", "Sino-Tibetan", "zh", False),
    QwenLanguage("Cantonese", "Sino-Tibetan", "yue"), QwenLanguage("Burmese", "Sino-Tibetan", "my"),
    QwenLanguage("Standard Arabic", "Afro-Asiatic", "ar"), QwenLanguage("Najdi Arabic", "Afro-Asiatic", "ar", False),
    QwenLanguage("Levantine Arabic", "Afro-Asiatic", "ar", False),
    QwenLanguage("Egyptian Arabic", "Afro-Asiatic", "arz"),
    QwenLanguage("Moroccan Arabic", "Afro-Asiatic", "ar", False),
    QwenLanguage("Mesopotamian Arabic", "Afro-Asiatic", "ar", False),
    QwenLanguage("Ta'izzi-Adeni Arabic", "Afro-Asiatic", "ar", False),
    QwenLanguage("Tunisian Arabic", "Afro-Asiatic", "ar", False),
    QwenLanguage("Hebrew", "Afro-Asiatic", "he"), QwenLanguage("Maltese", "Afro-Asiatic", "mt"),
    QwenLanguage("Indonesian", "Austronesian", "id"), QwenLanguage("Malay", "Austronesian", "ms"),
    QwenLanguage("Tagalog", "Austronesian", "tl"), QwenLanguage("Cebuano", "Austronesian", "ceb"),
    QwenLanguage("Javanese", "Austronesian", "jv"), QwenLanguage("Sundanese", "Austronesian", "su"),
    QwenLanguage("Minangkabau", "Austronesian", "min"), QwenLanguage("Balinese", "Austronesian", None),
    QwenLanguage("Banjar", "Austronesian", None), QwenLanguage("Pangasinan", "Austronesian", None),
    QwenLanguage("Iloko", "Austronesian", "ilo"), QwenLanguage("Waray (Philippines)", "Austronesian", "war"),
    QwenLanguage("Tamil", "Dravidian", "ta"), QwenLanguage("Telugu", "Dravidian", "te"),
    QwenLanguage("Kannada", "Dravidian", "kn"), QwenLanguage("Malayalam", "Dravidian", "ml"),
    QwenLanguage("Turkish", "Turkic", "tr"), QwenLanguage("North Azerbaijani", "Turkic", "az"),
    QwenLanguage("Northern Uzbek", "Turkic", "uz"), QwenLanguage("Kazakh", "Turkic", "kk"),
    QwenLanguage("Bashkir", "Turkic", "ba"), QwenLanguage("Tatar", "Turkic", "tt"),
    QwenLanguage("Thai", "Tai-Kadai", "th"), QwenLanguage("Lao", "Tai-Kadai", "lo"),
    QwenLanguage("Finnish", "Uralic", "fi"), QwenLanguage("Estonian", "Uralic", "et"),
    QwenLanguage("Hungarian", "Uralic", "hu"),
    QwenLanguage("Vietnamese", "Austroasiatic", "vi"), QwenLanguage("Khmer", "Austroasiatic", "km"),
    QwenLanguage("Japanese", "Other", "ja"), QwenLanguage("Korean", "Other", "ko"),
    QwenLanguage("Georgian", "Other", "ka"), QwenLanguage("Basque", "Other", "eu"),
    QwenLanguage("Haitian", "Other", "ht"), QwenLanguage("Papiamento", "Other", None),
    QwenLanguage("Kabuverdianu", "Other", None), QwenLanguage("Tok Pisin", "Other", None),
    QwenLanguage("Swahili", "Other", "sw"),
)


def qwen3_labels() -> list[str]:
    """The lid.176 labels that identify at least one Qwen3 language, sorted (``keep: [qwen3]``)."""
    return sorted({lang.label for lang in QWEN3_LANGUAGES if lang.label})


def qwen3_missing() -> list[str]:
    """Qwen3 languages that lid.176 has no label for."""
    return [lang.name for lang in QWEN3_LANGUAGES if lang.label is None]
