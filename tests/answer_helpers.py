"""Small honest fakes for answering tests: a retriever over fixed passages."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.types import Hit


def hit(rank: int, source: str, page: int, text: str) -> Hit:
    """A Hit with the bookkeeping fields filled in."""
    return Hit(
        rank=rank,
        source=source,
        page=page,
        page_end=page,
        text=text,
        score=1.0 / rank,
        chunk_id=f"{source}:{rank}",
    )


REGLAMENTO = [
    hit(
        1,
        "reglamento.pdf",
        3,
        "Artículo 12. La nota mínima para aprobar una asignatura de grado es 5,0 "
        "sobre 10. Las notas se publican en el aula virtual.",
    ),
    hit(
        2,
        "posgrado.pdf",
        7,
        "En los programas de posgrado la calificación mínima de aprobación es 7,0 "
        "sobre 10. El calendario académico se publica en marzo.",
    ),
    hit(
        3,
        "calendario.pdf",
        1,
        "El semestre de otoño comienza el 1 de septiembre y termina el 20 de diciembre.",
    ),
]


@dataclass
class FakeRetriever:
    """Returns fixed hits (the first k) and records every question it was asked."""

    hits: list[Hit] = field(default_factory=lambda: list(REGLAMENTO))
    questions: list[str] = field(default_factory=list)

    def retrieve(self, question: str, k: int) -> list[Hit]:
        self.questions.append(question)
        return self.hits[:k]
