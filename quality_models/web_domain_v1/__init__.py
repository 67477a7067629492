"""The shipped ``web-domain@1`` domain model (model.ftz) and its card; built by quality_models/build_web_domain.py."""
