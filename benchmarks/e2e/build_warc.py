"""Build a deterministic WARC corpus of a given size from real pages, repeated with perturbation so dedup has work.

Sources (../shared/data): the 1,033 annotated pages of ``html_eval/pages`` and the HTML responses
of the Dolma crawl samples. Pass r over the pages (r = 0, 1, 2, ...) writes every page once
under a new URL; whether it is the page as is, an exact copy (r % 3 == 1) or a near copy with a
few words changed and a sentence added (r % 3 == 2) follows from r, so the same ``--gb`` always
gives the same bytes. Files are gzip WARCs of about ``--file-mb`` each.

    python benchmarks/e2e/build_warc.py --gb 2 --out /tmp/e2e-warc
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
WORD = re.compile(rb">([^<>]{40,})<")


def load_pages() -> list[bytes]:
    """Raw HTML bytes of the real pages, in a fixed order."""
    from warcio.archiveiterator import ArchiveIterator

    pages = [gzip.decompress(p.read_bytes()) for p in sorted((SHARED / "html_eval" / "pages").glob("*.html.gz"))]
    for warc in sorted((SHARED / "warc" / "dolma").glob("*.warc.gz")):
        with open(warc, "rb") as fh:
            for rec in ArchiveIterator(fh):
                ctype = rec.http_headers.get_header("Content-Type", "") if rec.http_headers else ""
                if rec.rec_type == "response" and "html" in ctype:
                    pages.append(rec.content_stream().read())
    return pages


def perturb(page: bytes, key: str) -> bytes:
    """A near copy: swap two words in the first long text node and add a sentence before </body>."""
    h = hashlib.sha256(key.encode()).hexdigest()
    m = WORD.search(page)
    if m:
        words = m.group(1).split(b" ")
        if len(words) > 4:
            i = int(h[:4], 16) % (len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        page = page[: m.start(1)] + b" ".join(words) + page[m.end(1):]
    note = f"<p>Archived copy {h[:12]}: this page was saved again on a later visit.</p>".encode()
    cut = page.rfind(b"</body>")
    return page[:cut] + note + page[cut:] if cut >= 0 else page + note


def build(out: Path, gb: float, file_mb: float = 128.0) -> list[Path]:
    """Write WARC files under ``out`` until ``gb`` GB of uncompressed page bytes; returns the files."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out.mkdir(parents=True, exist_ok=True)
    pages = load_pages()
    budget, per_file = int(gb * 1e9), int(file_mb * 1e6)
    written = 0
    files: list[Path] = []
    fh = None
    writer = None
    in_file = 0
    r = 0
    while written < budget:
        for i, page in enumerate(pages):
            if written >= budget:
                break
            if fh is None or in_file >= per_file:
                if fh is not None:
                    fh.close()
                files.append(out / f"crawl-{len(files):05d}.warc.gz")
                fh = open(files[-1], "wb")
                writer = WARCWriter(fh, gzip=True)
                in_file = 0
            body = page if r % 3 != 2 else perturb(page, f"{r}-{i}")
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            uid = hashlib.sha256(f"{r}-{i}".encode()).hexdigest()
            rec = writer.create_warc_record(f"https://site{i % 97}.example/r{r}/p{i}", "response", payload=io.BytesIO(body),
                                            http_headers=http, warc_headers_dict={
                                                "WARC-Record-ID": f"<urn:uuid:{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:32]}>",
                                                "WARC-Date": "2024-01-01T00:00:00Z",
                                                # as Common Crawl writes it: readers that sniff the type
                                                # themselves (datatrove: libmagic) would skip ~9% of these pages
                                                "WARC-Identified-Payload-Type": "text/html"})
            writer.write_record(rec)
            written += len(body)
            in_file += len(body)
        r += 1
    if fh is not None:
        fh.close()
    return files


def main() -> None:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=2.0, help="uncompressed HTML bytes to write, in GB")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--file-mb", type=float, default=128.0, help="uncompressed page bytes per WARC file")
    args = ap.parse_args()
    files = build(args.out, args.gb, args.file_mb)
    total = sum(f.stat().st_size for f in files)
    print(f"{len(files)} WARC files, {total / 1e6:.1f} MB gzip, {args.gb} GB of HTML under {args.out}")


if __name__ == "__main__":
    main()
