"""Extraction: raw web pages and PDFs to clean text documents."""

INDEX = {
    "html_extract_v1": "dataforge.stages.extract.html:HtmlExtract",
    "pdf_extract_v1": "dataforge.stages.extract.pdf:PdfExtract",
}
