"""The demo corpus: real English prose taken from documentation already installed on this machine.

Documents are the docstrings of Python standard-library modules (module, class and function
docs, read with ``ast`` without importing anything) and the long descriptions of installed
packages (``*.dist-info/METADATA``). A few exact copies, near-empty documents and broken lines
are mixed in so that the quickstart pipeline has something to drop and to quarantine.
"""

from __future__ import annotations

import ast
import email
import gzip
import json
import sysconfig
from pathlib import Path
from typing import Iterator


def _stdlib_docs() -> Iterator[tuple[str, str]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part in {"test", "tests", "idlelib", "site-packages", "lib2to3", "turtledemo"} for part in rel.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        doc = ast.get_docstring(tree)
        if doc and len(doc) > 40:
            yield f"python-docs/{rel.as_posix()}", doc.strip()
        for node in tree.body:
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue
            parts = [ast.get_docstring(node) or ""]
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and not item.name.startswith("_"):
                    d = ast.get_docstring(item)
                    if d and len(d) > 60:
                        parts.append(f"{item.name}: {d}")
            text = "\n\n".join(p for p in parts if p).strip()
            if len(text) > 40:
                yield f"python-docs/{rel.as_posix()}#{node.name}", text


def _package_docs() -> Iterator[tuple[str, str]]:
    seen = set()
    for site in sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}):
        for meta in sorted(Path(site).glob("*.dist-info/METADATA")):
            try:
                msg = email.message_from_string(meta.read_text(encoding="utf-8", errors="replace"))
            except Exception:  # noqa: BLE001
                continue
            name = msg.get("Name") or meta.parent.name
            body = msg.get_payload() if not msg.is_multipart() else ""
            if name in seen or not isinstance(body, str) or len(body) < 200:
                continue
            seen.add(name)
            yield f"pypi/{name}", body.strip()


def build_sample_corpus(out: Path, docs: int = 3000) -> int:
    """Write up to ``docs`` documents (plus planted duplicates and bad lines) to a .jsonl.gz file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (url, text) in enumerate(_package_docs()):
        rows.append({"id": f"doc-{len(rows):05d}", "text": text, "url": f"https://{url}", "source": "package-docs"})
        if len(rows) >= docs // 3:
            break
    for url, text in _stdlib_docs():
        if len(rows) >= docs:
            break
        rows.append({"id": f"doc-{len(rows):05d}", "text": text, "url": f"https://docs.local/{url}", "source": "python-docs"})
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in rows]
    # Planted problems, so the demo shows every outcome: copies, stubs and unreadable lines.
    for k in range(0, len(rows), 40):
        dup = dict(rows[k], id=f"copy-{k:05d}", url=rows[k]["url"] + "?mirror=1")
        lines.append(json.dumps(dup, ensure_ascii=False).encode())
    lines.append(json.dumps({"id": "stub-1", "text": "See also.", "source": "python-docs"}).encode())
    lines.append(b'{"id": "broken-1", "text": "an unterminated record')
    lines.append(b'{"id": "latin1-1", "text": "caf\xe9 au lait"}')
    lines.append(json.dumps({"id": "notext-1", "title": "a record without text"}).encode())
    with gzip.open(out, "wb", compresslevel=6) as fh:
        # mtime=0 in the gzip header would need GzipFile; content determinism is what matters here
        fh.write(b"\n".join(lines) + b"\n")
    return len(lines)
