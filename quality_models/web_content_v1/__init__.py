"""The shipped ``web-content@1`` quality model (model.ftz) and its card; built by quality_models/build_web_content.py."""
