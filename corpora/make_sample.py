"""Generate the sample corpus in ``corpora/sample/``: four short PDFs and one Markdown FAQ.

Run from the project root (needs fpdf2, which the ``dev`` extra installs):

    python corpora/make_sample.py            # writes corpora/sample/
    python corpora/make_sample.py OUT_DIR    # writes somewhere else (the tests compare the bytes)

Everything here is fictional and written by this project: the "Universidad Autónoma de Ejemplo" does not
exist. The output is deterministic (fixed creation date, no compression randomness, core fonts only), so
running the script again with the same fpdf2 version gives byte-identical files.

Each page is laid out explicitly and the script fails if any page overflows onto the next, because
``corpora/sample_questions.json`` names the page on which each answer is found.

The PDFs use fpdf2's core Helvetica font, which is Latin-1: it covers áéíóúüñ¿¡º but not curly quotes,
long dashes or the euro sign, so the text below sticks to straight quotes and hyphens.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

INSTITUTION = "Universidad Autónoma de Ejemplo"
FICTION_NOTE = "Documento ficticio de muestra"
CREATED = datetime(2026, 1, 15, 9, 0, 0, tzinfo=UTC)
OUT_DEFAULT = Path(__file__).resolve().parent / "sample"

# A block is one of:
#   ("h1", text)  ("h2", text)  ("p", text)  ("art", heading, text)  ("ul", [items])
#   ("table", [header], [[row], ...], (column widths))  ("small", text)
Block = tuple


@dataclass
class Doc:
    filename: str
    title: str
    subject: str
    lang: str
    footer_note: str
    page_label: str  # footer page counter, with {n} and {{nb}} (fpdf2 fills in the total)
    pages: list[list[Block]] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------
# 1. Reglamento de Evaluación y Promoción Estudiantil (4 pages, one chapter per page)
# ---------------------------------------------------------------------------------------------------------
REGLAMENTO = Doc(
    filename="reglamento_evaluacion.pdf",
    title="Reglamento de Evaluación y Promoción Estudiantil",
    subject="Normas de evaluación, asistencia, segunda instancia, reclamos y promoción",
    lang="es",
    footer_note=FICTION_NOTE,
    page_label="Página {n} de {{nb}}",
    pages=[
        [
            ("h1", "Reglamento de Evaluación y Promoción Estudiantil"),
            ("small", "Aprobado por Resolución del Consejo Universitario Nº 045/2025, "
                      "de 12 de diciembre de 2025."),
            ("h2", "Capítulo I - Disposiciones generales"),
            ("art", "Artículo 1. Objeto.",
             "El presente Reglamento establece las normas de evaluación del aprendizaje, aprobación de "
             "asignaturas y promoción de los estudiantes de la Universidad Autónoma de Ejemplo."),
            ("art", "Artículo 2. Ámbito de aplicación.",
             "Se aplica a todas las carreras de pregrado y a los programas de posgrado (especialidad, "
             "maestría y doctorado) de todas las Facultades, en modalidad presencial, semipresencial "
             "y virtual."),
            ("art", "Artículo 3. Escala de calificación.",
             "Todas las evaluaciones se califican en una escala numérica de 0 (cero) a 100 (cien) puntos, "
             "sin decimales. Las fracciones iguales o mayores a 0,5 se redondean al entero superior."),
            ("art", "Artículo 4. Nota mínima de aprobación.",
             "La nota mínima de aprobación de una asignatura de pregrado es de 51 (cincuenta y uno) puntos "
             "sobre 100. En los programas de posgrado la nota mínima de aprobación es de 71 (setenta y uno) "
             "puntos sobre 100."),
            ("art", "Artículo 5. Publicación de calificaciones.",
             "El docente registrará las calificaciones en el Sistema Académico en un plazo máximo de "
             "5 días hábiles después de cada evaluación. La calificación registrada es la única válida."),
        ],
        [
            ("h2", "Capítulo II - Asistencia"),
            ("art", "Artículo 6. Asistencia mínima.",
             "Para tener derecho al examen final, el estudiante debe acreditar una asistencia mínima del "
             "80% (ochenta por ciento) a las clases teóricas y prácticas de la asignatura."),
            ("art", "Artículo 7. Justificación de inasistencias.",
             "Las inasistencias por enfermedad, duelo familiar o representación oficial de la Universidad "
             "se justifican ante la Dirección de Carrera presentando el respaldo documental (por ejemplo, "
             "un certificado médico) dentro de los 5 días hábiles siguientes a la reincorporación."),
            ("art", "Artículo 8. Efecto de la inasistencia.",
             "El estudiante que no alcance la asistencia mínima figurará como \"Abandono\" en el acta final "
             "de la asignatura, sin derecho a examen final ni a segunda instancia."),
            ("art", "Artículo 9. Puntualidad.",
             "Se considera atraso el ingreso a clases pasados 15 minutos del horario fijado; tres atrasos "
             "equivalen a una inasistencia."),
        ],
        [
            ("h2", "Capítulo III - Evaluaciones y segunda instancia"),
            ("art", "Artículo 10. Composición de la nota final.",
             "La nota final de cada asignatura se compone de la evaluación continua, con un peso del 60%, "
             "y del examen final, con un peso del 40%. La evaluación continua incluye al menos dos "
             "exámenes parciales, trabajos prácticos e informes de laboratorio."),
            ("art", "Artículo 11. Examen de segunda instancia.",
             "El estudiante de pregrado que obtenga una nota final entre 36 y 50 puntos tiene derecho a "
             "un examen de segunda instancia (examen de recuperación), siempre que haya cumplido la "
             "asistencia mínima y rendido el examen final."),
            ("art", "Artículo 12. Condiciones de la segunda instancia.",
             "La segunda instancia se rinde una sola vez por asignatura y por periodo académico, evalúa la "
             "totalidad del contenido de la asignatura y reemplaza a la nota final. Si el estudiante la "
             "aprueba, la nota registrada será como máximo de 51 puntos."),
            ("art", "Artículo 13. Fecha de la segunda instancia.",
             "La segunda instancia se programa dentro de los 10 días calendario siguientes a la "
             "publicación de las notas finales, en las fechas que fija el Calendario Académico. Los "
             "programas de posgrado no tienen segunda instancia."),
        ],
        [
            ("h2", "Capítulo IV - Reclamos y promoción"),
            ("art", "Artículo 14. Reclamo de notas.",
             "El estudiante que no esté conforme con una calificación puede presentar un reclamo escrito "
             "y fundamentado ante la Dirección de Carrera dentro de los 3 días hábiles siguientes a su "
             "publicación en el Sistema Académico."),
            ("art", "Artículo 15. Resolución del reclamo.",
             "La Dirección de Carrera conforma una comisión de dos docentes del área, distintos del "
             "docente de la asignatura, que revisa la evaluación y emite su resolución en un plazo de "
             "5 días hábiles. La resolución es inapelable."),
            ("art", "Artículo 16. Promoción.",
             "Para inscribirse en asignaturas del semestre siguiente, el estudiante debe haber aprobado "
             "las asignaturas que son prerrequisito según el plan de estudios de su carrera."),
            ("art", "Artículo 17. Reprobación reiterada.",
             "El estudiante que repruebe la misma asignatura por tercera vez solo podrá volver a "
             "inscribirla con autorización expresa del Consejo de Carrera, previa entrevista con su tutor."),
            ("art", "Artículo 18. Vigencia.",
             "El presente Reglamento entra en vigencia a partir del primer semestre de la gestión 2026 y "
             "abroga el Reglamento de Evaluación de 2019."),
        ],
    ],
)

# ---------------------------------------------------------------------------------------------------------
# 2. Calendario Académico 2026 (3 pages: first semester, second semester, holidays)
# ---------------------------------------------------------------------------------------------------------
_CAL_WIDTHS = (95, 75)
CALENDARIO = Doc(
    filename="calendario_academico_2026.pdf",
    title="Calendario Académico 2026",
    subject="Fechas de inscripciones, clases, exámenes y feriados de la gestión 2026",
    lang="es",
    footer_note=FICTION_NOTE,
    page_label="Página {n} de {{nb}}",
    pages=[
        [
            ("h1", "Calendario Académico 2026"),
            ("small", "Aprobado por el Consejo Académico el 28 de noviembre de 2025. Rige para pregrado."),
            ("h2", "Primer semestre (Semestre I/2026)"),
            ("table", ["Actividad", "Fecha"], [
                ["Inscripciones Semestre I", "Del lunes 2 al viernes 13 de febrero de 2026"],
                ["Inicio de clases Semestre I", "Lunes 2 de marzo de 2026"],
                ["Último día para retirar asignaturas", "Viernes 27 de marzo de 2026"],
                ["Exámenes parciales", "Del 20 al 24 de abril de 2026"],
                ["Último día de clases", "Viernes 26 de junio de 2026"],
                ["Exámenes finales Semestre I", "Del lunes 29 de junio al viernes 10 de julio de 2026"],
                ["Segunda instancia Semestre I", "Del 13 al 17 de julio de 2026"],
                ["Vacaciones de invierno", "Del lunes 20 al viernes 31 de julio de 2026"],
            ], _CAL_WIDTHS),
            ("p", "Las inscripciones se realizan en línea en el Sistema Académico. Fuera de plazo solo se "
                  "aceptan inscripciones con autorización de la Dirección de Carrera."),
        ],
        [
            ("h2", "Segundo semestre (Semestre II/2026)"),
            ("table", ["Actividad", "Fecha"], [
                ["Inscripciones Semestre II", "Del lunes 27 de julio al viernes 7 de agosto de 2026"],
                ["Inicio de clases Semestre II", "Lunes 10 de agosto de 2026"],
                ["Último día para retirar asignaturas", "Viernes 4 de septiembre de 2026"],
                ["Exámenes parciales", "Del 28 de septiembre al 2 de octubre de 2026"],
                ["Último día de clases", "Viernes 27 de noviembre de 2026"],
                ["Exámenes finales Semestre II",
                 "Del lunes 30 de noviembre al viernes 11 de diciembre de 2026"],
                ["Segunda instancia Semestre II", "Del 14 al 18 de diciembre de 2026"],
                ["Cierre de la gestión académica", "Miércoles 23 de diciembre de 2026"],
            ], _CAL_WIDTHS),
            ("p", "Las notas finales de cada semestre se publican en el Sistema Académico a más tardar tres "
                  "días hábiles después del último examen final."),
        ],
        [
            ("h2", "Feriados y días sin actividad académica"),
            ("table", ["Fecha", "Motivo"], [
                ["Jueves 1 de enero de 2026", "Año Nuevo"],
                ["Lunes 16 y martes 17 de febrero de 2026", "Carnaval"],
                ["Viernes 3 de abril de 2026", "Viernes Santo"],
                ["Viernes 1 de mayo de 2026", "Día del Trabajo"],
                ["Jueves 4 de junio de 2026", "Corpus Christi"],
                ["Martes 15 de septiembre de 2026", "Aniversario de la Universidad (sin clases)"],
                ["Lunes 2 de noviembre de 2026", "Día de Todos los Difuntos"],
                ["Viernes 25 de diciembre de 2026", "Navidad"],
            ], (85, 85)),
            ("p", "Si un examen coincide con un feriado declarado por el gobierno con posterioridad a la "
                  "publicación de este calendario, se reprograma para el siguiente día hábil."),
        ],
    ],
)

# ---------------------------------------------------------------------------------------------------------
# 3. Procedimiento de Titulación y Defensa de Tesis (3 pages)
# ---------------------------------------------------------------------------------------------------------
TITULACION = Doc(
    filename="procedimiento_titulacion.pdf",
    title="Procedimiento de Titulación y Defensa de Tesis",
    subject="Pasos, documentos y plazos para la titulación por tesis de grado",
    lang="es",
    footer_note=FICTION_NOTE,
    page_label="Página {n} de {{nb}}",
    pages=[
        [
            ("h1", "Procedimiento de Titulación y Defensa de Tesis"),
            ("small", "Código PR-ACA-07, versión 3. Responsable: Vicerrectorado Académico."),
            ("h2", "1. Modalidades de titulación"),
            ("p", "Los estudiantes de pregrado pueden titularse mediante tesis de grado, proyecto de grado, "
                  "trabajo dirigido o examen de grado. Este procedimiento describe la modalidad de tesis."),
            ("h2", "2. Inscripción del perfil de tesis"),
            ("ul", [
                "Requisito: haber aprobado todas las asignaturas del plan de estudios hasta el octavo "
                "semestre.",
                "El estudiante presenta el perfil de tesis, firmado por un tutor docente, en la Dirección de "
                "Carrera.",
                "La Comisión de Titulación revisa el perfil y emite su aprobación u observaciones en un "
                "plazo de 15 días hábiles.",
            ]),
            ("h2", "3. Plazo de elaboración"),
            ("p", "El plazo máximo para concluir la tesis es de 18 meses contados desde la aprobación del "
                  "perfil. La Dirección de Carrera puede conceder una única prórroga de 6 meses a solicitud "
                  "justificada del estudiante y con el visto bueno del tutor."),
        ],
        [
            ("h2", "4. Documentos requeridos para solicitar la defensa"),
            ("ul", [
                "Carta de solicitud de defensa dirigida al Director de Carrera.",
                "Tres ejemplares impresos de la tesis y una copia digital en formato PDF.",
                "Informe favorable del tutor.",
                "Informe de similitud (antiplagio) con un índice de coincidencia menor al 20%.",
                "Certificado de calificaciones que acredite la conclusión del plan de estudios.",
                "Certificado de no adeudo de la Biblioteca Central.",
                "Comprobante de pago del arancel de titulación.",
            ]),
            ("h2", "5. Tribunal de tesis"),
            ("p", "El Director de Carrera designa un tribunal de 3 miembros: dos docentes de la carrera y un "
                  "profesional externo a la Universidad. El tutor no forma parte del tribunal. Cada miembro "
                  "revisa la tesis y entrega sus observaciones por escrito en un plazo de 10 días hábiles."),
            ("p", "El estudiante incorpora las observaciones y entrega la versión final; con ella, la "
                  "Dirección de Carrera fija la fecha de la defensa pública con al menos 5 días hábiles "
                  "de anticipación."),
        ],
        [
            ("h2", "6. Defensa pública"),
            ("p", "La defensa es pública. El estudiante dispone de 30 minutos para la exposición de su "
                  "trabajo; a continuación, el tribunal formula preguntas durante un máximo de 45 minutos."),
            ("h2", "7. Calificación"),
            ("table", ["Puntaje", "Resultado"], [
                ["Menos de 61 puntos", "Reprobado"],
                ["De 61 a 80 puntos", "Aprobado"],
                ["De 81 a 90 puntos", "Aprobado con Distinción"],
                ["De 91 a 100 puntos", "Aprobado con Excelencia"],
            ], (70, 100)),
            ("p", "Si la tesis es reprobada, el estudiante puede presentar una nueva defensa después de un "
                  "plazo mínimo de 90 días calendario, incorporando las observaciones del tribunal."),
            ("h2", "8. Emisión del título"),
            ("p", "Aprobada la defensa, la Secretaría General tramita el Diploma Académico en un plazo de "
                  "60 días hábiles. El graduado recibe el diploma en un acto de graduación colectivo."),
        ],
    ],
)

# ---------------------------------------------------------------------------------------------------------
# 4. Thesis Submission Guidelines for International Students (English, 3 pages)
# ---------------------------------------------------------------------------------------------------------
GUIDELINES = Doc(
    filename="thesis_guidelines_international.pdf",
    title="Thesis Submission Guidelines for International Students",
    subject="Language, formatting, submission and research data rules for master's and doctoral theses",
    lang="en",
    footer_note="Fictional sample document",
    page_label="Page {n} of {{nb}}",
    pages=[
        [
            ("h1", "Thesis Submission Guidelines for International Students"),
            ("small", "Graduate School, Universidad Autónoma de Ejemplo. Applies to master's and doctoral "
                      "programmes from the 2026 academic year."),
            ("h2", "1. Scope"),
            ("p", "These guidelines apply to students enrolled in a postgraduate programme who hold a "
                  "previous degree from a university outside the country."),
            ("h2", "2. Language of the thesis"),
            ("p", "A thesis may be written in Spanish or in English. A thesis written in English must "
                  "include an abstract in Spanish of no more than 500 words, in addition to the English "
                  "abstract."),
            ("h2", "3. Recognition of previous degrees"),
            ("p", "Before the thesis proposal can be registered, the student must submit an apostilled "
                  "copy of the previous degree certificate and an official transcript. Documents in "
                  "languages other than Spanish or English need a certified translation."),
        ],
        [
            ("h2", "4. Formatting"),
            ("ul", [
                "Paper size A4, 12-point font, 1.5 line spacing.",
                "Margins: 3 cm on the left and 2.5 cm on the other sides.",
                "A master's thesis may not exceed 120 pages, excluding annexes; a doctoral thesis may "
                "not exceed 300 pages.",
                "Citations follow the APA style, 7th edition.",
            ]),
            ("h2", "5. Submission"),
            ("p", "The final thesis is uploaded as a PDF/A file to the Graduate School portal at least "
                  "30 calendar days before the planned defense date. A similarity report below 20% is "
                  "required; the Graduate School runs the check and sends the report to the supervisor."),
            ("p", "Printed copies are not required for postgraduate theses."),
        ],
        [
            ("h2", "6. Research data"),
            ("p", "Deadline: research data must be deposited within six months of the defense. The data "
                  "that support the thesis go to the institutional data repository, together with a README "
                  "file that describes each dataset. Personal data must be anonymised before deposit."),
            ("p", "At the student's request, the supervisor may approve an embargo of up to 24 months on "
                  "the full text of the thesis and its data, for example while a patent is pending."),
            ("h2", "7. Student visa and residence"),
            ("p", "International students must hold a valid student visa during the whole programme. The "
                  "International Relations Office issues the enrolment letter required for the visa "
                  "renewal within 7 working days of the request."),
            ("h2", "8. Contact"),
            ("p", "Questions about these guidelines: Graduate School front desk, Monday to Friday, "
                  "9:00 to 16:00."),
        ],
    ],
)

DOCS = (REGLAMENTO, CALENDARIO, TITULACION, GUIDELINES)

FAQ_NAME = "preguntas_frecuentes_becas_biblioteca.md"
FAQ_TEXT = """\
# Preguntas frecuentes: becas y biblioteca

*Universidad Autónoma de Ejemplo - documento ficticio de muestra.*

## Becas

### ¿Qué becas ofrece la Universidad?
La Universidad ofrece la **beca de excelencia académica**, la **beca socioeconómica** y la **beca
de trabajo** (apoyo en oficinas y laboratorios, 20 horas semanales).

### ¿Qué promedio necesito para la beca de excelencia académica?
Se requiere un promedio ponderado mínimo de 85 puntos en el semestre anterior, sin asignaturas
reprobadas. La beca cubre el 100% de la matrícula del semestre siguiente.

### ¿Cuándo se abre la convocatoria de becas?
La convocatoria se publica cada año en la primera semana de enero y las solicitudes se reciben
hasta el 31 de enero en la Dirección de Bienestar Estudiantil.

### ¿Puedo tener dos becas a la vez?
No. Las becas son incompatibles entre sí; si un estudiante califica para dos, se le asigna la de
mayor beneficio.

## Biblioteca

### ¿Cuál es el horario de la Biblioteca Central?
De lunes a viernes de 7:30 a 21:00 y los sábados de 8:00 a 13:00. Los domingos y feriados
permanece cerrada.

### ¿Por cuánto tiempo puedo llevarme un libro?
El préstamo a domicilio es de 7 días y se puede renovar hasta 2 veces, siempre que nadie haya
reservado el libro.

### ¿Qué pasa si devuelvo un libro con retraso?
Por cada día de retraso se suspende el servicio de préstamo durante 2 días hábiles.

### ¿Puedo acceder a las bases de datos desde casa?
Sí, con el usuario y la contraseña del Sistema Académico, a través del proxy de la Biblioteca.
"""


class _PDF(FPDF):
    """A4 portrait with the institution in the header and 'Página n de N' in the footer."""

    def __init__(self, doc: Doc) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.doc = doc

    def header(self) -> None:
        self.set_font("Helvetica", "B", 9)
        self.set_text_color(90, 90, 90)
        self.cell(0, 6, INSTITUTION, align="L")
        self.ln(10)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", "", 8)
        self.set_text_color(90, 90, 90)
        counter = self.doc.page_label.format(n=self.page_no())
        text = f"{self.doc.title} - {self.doc.footer_note} - {counter}"
        self.cell(0, 6, text, align="C")
        self.set_text_color(0, 0, 0)


def _render_block(pdf: _PDF, block: Block) -> None:
    kind = block[0]
    width = pdf.epw
    if kind == "h1":
        pdf.set_font("Helvetica", "B", 16)
        pdf.multi_cell(width, 8, block[1], new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    elif kind == "h2":
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 12)
        pdf.multi_cell(width, 7, block[1], new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    elif kind == "small":
        pdf.set_font("Helvetica", "I", 9)
        pdf.multi_cell(width, 5, block[1], new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    elif kind == "p":
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(width, 6, block[1], new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    elif kind == "art":
        pdf.set_font("Helvetica", "B", 11)
        pdf.multi_cell(width, 6, block[1], new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        pdf.multi_cell(width, 6, block[2], new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    elif kind == "ul":
        pdf.set_font("Helvetica", "", 11)
        for item in block[1]:
            pdf.set_x(pdf.l_margin + 4)
            pdf.multi_cell(width - 4, 6, "- " + item, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        pdf.ln(1)
    elif kind == "table":
        _, header, rows, widths = block
        pdf.set_font("Helvetica", "", 10)
        with pdf.table(
            col_widths=widths,
            width=sum(widths),
            align="LEFT",
            text_align="LEFT",
            line_height=6,
            headings_style=FontFace(emphasis="BOLD", fill_color=(225, 225, 225)),
        ) as table:
            for values in [header, *rows]:
                row = table.row()
                for value in values:
                    row.cell(value)
        pdf.ln(4)
    else:  # pragma: no cover - a typo in the data above
        raise ValueError(f"unknown block kind {kind!r}")


def build_pdf(doc: Doc, out_dir: Path) -> Path:
    """Write one document; fail if any page's content spills onto another page."""
    pdf = _PDF(doc)
    pdf.set_title(doc.title)
    pdf.set_subject(doc.subject)
    pdf.set_author(INSTITUTION + " (ficticia)")
    pdf.set_creator("corpora/make_sample.py")
    pdf.set_lang(doc.lang)
    pdf.set_creation_date(CREATED)
    pdf.set_margins(20, 15, 20)
    pdf.set_auto_page_break(auto=True, margin=20)
    for number, blocks in enumerate(doc.pages, start=1):
        pdf.add_page()
        for block in blocks:
            _render_block(pdf, block)
        if pdf.page_no() != number:
            raise RuntimeError(f"{doc.filename}: page {number} overflows; shorten its text")
    path = out_dir / doc.filename
    pdf.output(str(path))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out_dir = Path(args[0]) if args else OUT_DEFAULT
    out_dir.mkdir(parents=True, exist_ok=True)
    for doc in DOCS:
        path = build_pdf(doc, out_dir)
        print(f"wrote {path} ({len(doc.pages)} pages)")
    faq = out_dir / FAQ_NAME
    faq.write_text(FAQ_TEXT, encoding="utf-8", newline="\n")
    print(f"wrote {faq}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
