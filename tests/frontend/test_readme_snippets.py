"""Every TypeScript snippet of the README compiles under strict ``tsc``, against the client's sources and the
supabase-js version the tests run (a reader who copies one gets no type error)."""

from __future__ import annotations

from pathlib import Path

from ..auth.test_supabase_js import node_project as node_project  # noqa: F401 (a fixture)
from .node import install_dependencies, readme_typescript, strict_project, tsc


def test_the_readme_has_its_snippets() -> None:
    """The README's snippets: supabase-js's login and Realtime subscription, the client's connect-listen-send."""
    snippets = readme_typescript()
    assert len(snippets) == 3
    assert "signInWithPassword" in snippets[0] and "postgres_changes" in snippets[1]
    assert "@sensay-hub/client" in snippets[2]


def test_every_typescript_snippet_compiles_under_strict_tsc(node_project: Path, tmp_path: Path) -> None:  # noqa: F811
    """Each ```ts block of the README, as a module of its own, passes ``tsc --strict``."""
    install_dependencies()
    files = []
    for index, snippet in enumerate(readme_typescript()):
        path = tmp_path / f"snippet{index}.ts"
        path.write_text(snippet + "\nexport {};\n", encoding="utf-8")
        files.append(path.name)
    tsc("-p", str(strict_project(tmp_path, files)))
