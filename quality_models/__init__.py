"""Quality models: the manifest of ``name@version`` entries, training (``dataforge train-quality``) and shipped models.

Installed as ``dataforge.quality_models``. ``manifest.json`` lists the models the project ships
(``web_content_v1/``, built by ``build_web_content.py``); ``train.py`` is the DCLM-manner trainer
behind ``dataforge train-quality``; ``preprocess.py`` is the text preparation shared by training
and the ``fasttext_classify_v1`` stage.
"""
