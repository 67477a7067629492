"""Extraction: raw web pages and PDFs to clean text documents."""

INDEX = {
    "pdf_extract_v1": "dataforge.stages.extract.pdf:PdfExtract",
}
