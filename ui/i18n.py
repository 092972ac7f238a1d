"""Every string the web page shows, in Spanish (the default) and English, in one place.

    tr = Translator("es")
    tr("upload.files", mb=200)  # -> "PDF, Word, LibreOffice, … · máx. 200 MB por archivo"

Strings are Streamlit Markdown written by us; values put into them (file names, model names) must be
escaped by the caller (ui.components.md_escape) unless they are inside backticks.
"""

from __future__ import annotations

import re
from typing import Literal

from ui.i18n_access import ACCESS_STRINGS
from ui.i18n_models import MODEL_STRINGS

Lang = Literal["es", "en"]
LANGUAGES: dict[Lang, str] = {"es": "Español", "en": "English"}
LANGUAGE_LABEL = "Idioma · Language"  # in both: whoever cannot read one finds the switch by the other
CHECKING_OLLAMA = "Ollama…"  # the spinner while Ollama is asked (one string: the cache decorator's, fixed)

STRINGS: dict[Lang, dict[str, str]] = {
    "es": {
        "app.title": "Pregunte a sus documentos",
        "app.name": "Asistente de documentos",
        "app.tagline": "Respuestas con cita de archivo y página. Todo se procesa en este equipo.",
        "app.loading": "Cargando el índice y el modelo de búsqueda…",
        "app.settings_error": "La configuración no es válida: {error}",
        "app.index_error": "No se puede abrir el índice: {error}",
        "nav.chat": "Preguntar",
        "nav.upload": "Subir documentos",
        "nav.documents": "Documentos",
        "sidebar.collection": "Colección",
        "sidebar.collection_help": "Los documentos se buscan y se suben en esta colección.",
        "sidebar.new_collection": "Nueva colección",
        "sidebar.new_collection_name": "Nombre de la colección",
        "sidebar.new_collection_placeholder": "p. ej. tesis-2026",
        "sidebar.create": "Crear",
        "sidebar.created": "Colección «{name}» creada.",
        "sidebar.invalid_collection": "Nombre no válido: use de 3 a 63 letras sin tildes, cifras, «.», «_» o «-», "
                                      "empezando y terminando con letra o cifra (p. ej. `tesis-2026`).",
        "sidebar.model": "Modelo de respuesta",
        "sidebar.model_help": "Modelos descargados en Ollama.",
        "sidebar.ollama_ok": ":green[:material/circle:] Ollama {version} conectado",
        "sidebar.ollama_down": ":red[:material/circle:] Ollama no disponible · modo extractivo",
        "sidebar.no_models": "Ollama no tiene modelos descargados. Descargue uno con `ollama pull {model}`.",
        "sidebar.model_missing": "El modelo configurado `{model}` no está descargado (`ollama pull {model}`).",
        "sidebar.language": "Idioma",
        "sidebar.private": ":material/lock: Sin conexión a servicios externos.",
        "banner.ollama_down": "**Ollama no responde en `{host}`.** Las respuestas serán **extractivas**: las frases "
                              "de los documentos que mejor responden, con su cita. Para respuestas redactadas, "
                              "inicie Ollama con `ollama serve` y descargue el modelo con `ollama pull {model}`, "
                              "o indique otra dirección en `OLLAMA_HOST`.",
        "chat.title": "Pregunte a sus documentos",
        "chat.caption": "Colección **{collection}** · {documents} documento(s)",
        "chat.placeholder": "Escriba su pregunta…",
        "chat.new": "Nueva conversación",
        "chat.empty_collection": "La colección está vacía: suba documentos o use `rag ingest`.",
        "chat.go_upload": "Subir documentos",
        "chat.welcome": "Haga una pregunta sobre los documentos de la colección **{collection}**. Cada respuesta "
                        "indica de qué archivo y página sale; puede seguir preguntando sobre lo mismo.",
        "chat.empty_question": "Escriba una pregunta antes de enviarla.",
        "chat.searching": "Buscando en los documentos…",
        "chat.writing": "Redactando la respuesta…",
        "chat.consulted": "{n} pasaje(s) consultado(s)",
        "chat.no_passages": "No se encontró ningún pasaje",
        "chat.error": "No se pudo responder: {error}",
        "chat.failed": "Algo falló al responder. Inténtelo de nuevo; si se repite, revise el registro del servidor.",
        "answer.sources": "Fuentes",
        "answer.llm": ":green-badge[:material/smart_toy: Redactada por {model}]",
        "answer.extractive": ":orange-badge[:material/format_quote: Respuesta extractiva]",
        "answer.extractive_help": "Frases tomadas literalmente de los documentos, sin modelo de lenguaje.",
        "answer.tier_passages": ":violet-badge[:material/help: Pasajes que pueden contener la respuesta]",
        "answer.tier_passages_help": "Ninguna frase responde con claridad: estos son los pasajes más cercanos a "
        "la pregunta. Compruébelos en el documento.",
        "answer.unsupported": "La respuesta no cita ningún pasaje: compruébela en los documentos.",
        "answer.abstained": "Pruebe a reformular la pregunta o compruebe que el documento está en la colección.",
        "answer.passages": "Pasajes consultados ({n})",
        "card.page": "pág. {page}",
        "card.pages": "págs. {page}–{page_end}",
        "card.whole_page": "Ver página completa",
        "card.page_missing": "El texto de esta página ya no está en el índice (¿se eliminó el documento?).",
        "card.page_title": "{source} · {pages}",
        "card.slide": "diapositiva {n}",
        "card.slides": "diapositivas {n}–{m}",
        "card.sheet": "hoja {name}, filas {first}–{last}",
        "card.ocr": "Texto reconocido por OCR: compruébelo en la imagen de la página.",
        "card.ocr_confidence": "Texto reconocido por OCR (confianza {confidence} %): compruébelo en la imagen "
        "de la página.",
        "upload.title": "Subir documentos",
        "upload.intro": "Los archivos se añaden a la colección **{collection}** con el mismo proceso que "
                        "`rag ingest`. Si sube un archivo con el mismo nombre, reemplaza la versión anterior.",
        "upload.files": "PDF, Word, LibreOffice, PowerPoint, Excel, HTML, TXT o Markdown · máx. {mb} MB por archivo",
        "upload.files_help": "Puede seleccionar varios archivos a la vez. Los PDF escaneados (solo imagen) "
                             "no tienen texto que indexar.",
        "upload.password": "Contraseña del PDF o documento (opcional)",
        "upload.password_help": "Solo para PDF y documentos de Office protegidos. Se usa para los archivos de esta "
                                "subida y no se guarda.",
        "upload.submit": "Subir e indexar",
        "upload.none": "Seleccione al menos un archivo.",
        "upload.running": "Indexando {n} archivo(s)…",
        "upload.done": "Indexación terminada",
        "upload.done_errors": "Indexación terminada, con errores",
        "upload.queued": ":material/schedule: {name} · en espera",
        "upload.working": ":material/hourglass_top: {name} · leyendo e indexando…",
        "upload.ocr_pages": ":material/document_scanner: {name} · reconociendo el texto (OCR): "
                            "página {done} de {total}",
        "upload.file_added": ":material/check_circle: {name} · añadido ({chunks} pasajes)",
        "upload.file_updated": ":material/sync: {name} · actualizado ({chunks} pasajes)",
        "upload.file_unchanged": ":material/done_all: {name} · ya estaba en la colección",
        "upload.file_failed": ":material/error: {name} · {reason}",
        "upload.passages": "{n} pasajes indexados",
        "upload.summary_added": "**Añadidos ({n}):** {names}",
        "upload.summary_updated": "**Actualizados ({n}):** {names}",
        "upload.summary_unchanged": "**Ya estaban ({n}):** {names}",
        "upload.summary_failed": "**No se pudieron añadir ({n}):**",
        "upload.summary_time": "{chunks} pasajes en {seconds:.1f} s · colección **{collection}**",
        "upload.error": "No se pudo indexar: {error}",
        "docs.title": "Documentos",
        "docs.caption": "Colección **{collection}**",
        "docs.empty": "La colección está vacía: suba documentos o use `rag ingest`.",
        "docs.count": "Documentos",
        "docs.pages": "Páginas",
        "docs.passages": "Pasajes",
        "docs.filter": "Buscar por nombre",
        "docs.showing": "Se muestran {shown} de {total}; escriba parte del nombre para encontrar otros.",
        "docs.no_match": "Ningún documento coincide con «{text}».",
        "docs.meta": "{units} · {chunks} pasajes · {size} · indexado el {date}",
        "docs.unit.page": "{n} pág.",
        "docs.unit.page_one": "1 pág.",
        "docs.unit.slide": "{n} diapositivas",
        "docs.unit.slide_one": "1 diapositiva",
        "docs.unit.section": "{n} secciones",
        "docs.unit.section_one": "1 sección",
        "docs.unit.sheet": "{n} hojas",
        "docs.unit.sheet_one": "1 hoja",
        "docs.unit.rows": "{n} bloques de filas",
        "docs.unit.rows_one": "1 bloque de filas",
        "docs.also": "También como: {names}",
        "docs.reingest": "Volver a indexar",
        "docs.reingest_help": "Lee de nuevo el archivo guardado y rehace sus pasajes.",
        "docs.reingest_unavailable": "El archivo original ya no está disponible; súbalo de nuevo.",
        "docs.reingesting": "Volviendo a indexar «{name}»…",
        "docs.reingested": "«{name}» se volvió a indexar ({chunks} pasajes).",
        "docs.reingest_failed": "No se pudo volver a indexar «{name}»: {reason}",
        "docs.remove": "Eliminar",
        "docs.remove_confirm": "¿Eliminar «{name}» de la colección **{collection}**? Sus pasajes dejarán de usarse "
                               "en las respuestas.",
        "docs.remove_upload": "También se borrará la copia del archivo subido.",
        "docs.reingest_about": "«Volver a indexar» lee de nuevo la copia guardada de lo subido aquí, o el archivo "
                               "en su carpeta si se añadió con `rag ingest`.",
        "docs.remove_yes": "Sí, eliminar",
        "docs.removing": "Eliminando «{name}»…",
        "docs.removed": "«{name}» se eliminó de la colección.",
        "docs.error": "No se pudo completar la acción: {error}",
        "reason.encrypted": "protegido con contraseña: escríbala en «Contraseña del PDF o documento» y vuelva a "
                            "subirlo",
        "reason.legacy_word": "formato antiguo de Word: guárdelo como .docx y vuelva a subirlo",
        "reason.legacy_excel": "formato antiguo de Excel: guárdelo como .xlsx y vuelva a subirlo",
        "reason.legacy_powerpoint": "formato antiguo de PowerPoint: guárdelo como .pptx y vuelva a subirlo",
        "reason.empty_document": "el documento no contiene texto",
        "reason.unsafe": "rechazado por seguridad: {detail}",
        "reason.wrong_password": "la contraseña no es correcta",
        "page.drawing": "Dibujando la página…",
        "page.image_ocr": "El texto de esta página se reconoció con OCR a partir de esta imagen: ante "
                          "cualquier diferencia, la imagen es la fuente fiable.",
        "page.image_caption": "La página tal como está en el archivo.",
        "page.image_caption_marked": "La página tal como está en el archivo; en amarillo, el pasaje citado.",
        "reason.no_text": "no tiene texto que indexar (¿es un escaneo?)",
        "reason.no_ocr": "es un escaneo y falta Tesseract (el OCR) para leerlo: "
                         "apt-get install tesseract-ocr tesseract-ocr-spa "
                         "(macOS: brew install tesseract tesseract-lang)",
        "reason.ocr_empty": "el OCR no encontró texto en sus páginas",
        "reason.no_usable_text": "el texto no se puede extraer (fuentes sin mapa Unicode)",
        "reason.damaged": "archivo dañado ({detail})",
        "reason.not_pdf": "no es un PDF válido",
        "reason.empty": "archivo vacío",
        "reason.unsupported": "tipo de archivo no admitido (PDF, Word, LibreOffice, PowerPoint, Excel, HTML, "
                              ".txt, .md)",
        "reason.too_large": "supera el límite de {mb} MB por archivo",
        "reason.timeout": "tardó demasiado en leerse (más de {detail})",
        "reason.memory": "necesita demasiada memoria para leerse",
        "reason.duplicate": "el mismo nombre aparece dos veces en esta subida",
    },
    "en": {
        "app.title": "Ask your documents",
        "app.name": "Document assistant",
        "app.tagline": "Answers that cite file and page. Everything runs on this machine.",
        "app.loading": "Loading the index and the search model…",
        "app.settings_error": "The settings are invalid: {error}",
        "app.index_error": "The index cannot be opened: {error}",
        "nav.chat": "Ask",
        "nav.upload": "Upload documents",
        "nav.documents": "Documents",
        "sidebar.collection": "Collection",
        "sidebar.collection_help": "Documents are searched and uploaded in this collection.",
        "sidebar.new_collection": "New collection",
        "sidebar.new_collection_name": "Collection name",
        "sidebar.new_collection_placeholder": "e.g. theses-2026",
        "sidebar.create": "Create",
        "sidebar.created": "Collection “{name}” created.",
        "sidebar.invalid_collection": "Invalid name: use 3 to 63 unaccented letters, digits, “.”, “_” or “-”, "
                                      "starting and ending with a letter or digit (e.g. `theses-2026`).",
        "sidebar.model": "Answer model",
        "sidebar.model_help": "Models pulled into Ollama.",
        "sidebar.ollama_ok": ":green[:material/circle:] Ollama {version} connected",
        "sidebar.ollama_down": ":red[:material/circle:] Ollama unavailable · extractive mode",
        "sidebar.no_models": "Ollama has no models yet. Pull one with `ollama pull {model}`.",
        "sidebar.model_missing": "The configured model `{model}` is not pulled (`ollama pull {model}`).",
        "sidebar.language": "Language",
        "sidebar.private": ":material/lock: No connection to outside services.",
        "banner.ollama_down": "**Ollama is not answering at `{host}`.** Answers will be **extractive**: the "
                              "sentences from the documents that best answer, with their citations. For written "
                              "answers, start Ollama with `ollama serve` and pull the model with "
                              "`ollama pull {model}`, or point `OLLAMA_HOST` elsewhere.",
        "chat.title": "Ask your documents",
        "chat.caption": "Collection **{collection}** · {documents} document(s)",
        "chat.placeholder": "Type your question…",
        "chat.new": "New conversation",
        "chat.empty_collection": "The collection is empty: upload documents or use `rag ingest`.",
        "chat.go_upload": "Upload documents",
        "chat.welcome": "Ask a question about the documents in the **{collection}** collection. Every answer says "
                        "which file and page it comes from; you can ask follow-up questions.",
        "chat.empty_question": "Type a question before sending it.",
        "chat.searching": "Searching the documents…",
        "chat.writing": "Writing the answer…",
        "chat.consulted": "{n} passage(s) consulted",
        "chat.no_passages": "No passage found",
        "chat.error": "Could not answer: {error}",
        "chat.failed": "Something went wrong while answering. Try again; if it persists, check the server log.",
        "answer.sources": "Sources",
        "answer.llm": ":green-badge[:material/smart_toy: Written by {model}]",
        "answer.extractive": ":orange-badge[:material/format_quote: Extractive answer]",
        "answer.extractive_help": "Sentences quoted from the documents, without a language model.",
        "answer.tier_passages": ":violet-badge[:material/help: Passages that may answer this]",
        "answer.tier_passages_help": "No sentence clearly answers: these are the passages closest to the "
        "question. Check them in the document.",
        "answer.unsupported": "The answer cites no passage: check it against the documents.",
        "answer.abstained": "Try rephrasing the question, or check that the document is in the collection.",
        "answer.passages": "Passages consulted ({n})",
        "card.page": "p. {page}",
        "card.pages": "pp. {page}–{page_end}",
        "card.whole_page": "See the whole page",
        "card.page_missing": "This page's text is no longer in the index (was the document removed?).",
        "card.page_title": "{source} · {pages}",
        "card.slide": "slide {n}",
        "card.slides": "slides {n}–{m}",
        "card.sheet": "sheet {name}, rows {first}–{last}",
        "card.ocr": "Text recognised by OCR: check it against the page image.",
        "card.ocr_confidence": "Text recognised by OCR (confidence {confidence} %): check it against the page "
        "image.",
        "upload.title": "Upload documents",
        "upload.intro": "Files are added to the **{collection}** collection by the same process as `rag ingest`. "
                        "Uploading a file with the same name replaces the previous version.",
        "upload.files": "PDF, Word, LibreOffice, PowerPoint, Excel, HTML, TXT or Markdown · max. {mb} MB per file",
        "upload.files_help": "You can select several files at once. Scanned (image-only) PDFs have no text to "
                             "index.",
        "upload.password": "PDF or document password (optional)",
        "upload.password_help": "Only for protected PDFs and Office documents. Used for the files of this upload "
                                "and never stored.",
        "upload.submit": "Upload and index",
        "upload.none": "Select at least one file.",
        "upload.running": "Indexing {n} file(s)…",
        "upload.done": "Indexing finished",
        "upload.done_errors": "Indexing finished, with errors",
        "upload.queued": ":material/schedule: {name} · waiting",
        "upload.working": ":material/hourglass_top: {name} · reading and indexing…",
        "upload.ocr_pages": ":material/document_scanner: {name} · recognising the text (OCR): "
                            "page {done} of {total}",
        "upload.file_added": ":material/check_circle: {name} · added ({chunks} passages)",
        "upload.file_updated": ":material/sync: {name} · updated ({chunks} passages)",
        "upload.file_unchanged": ":material/done_all: {name} · already in the collection",
        "upload.file_failed": ":material/error: {name} · {reason}",
        "upload.passages": "{n} passages indexed",
        "upload.summary_added": "**Added ({n}):** {names}",
        "upload.summary_updated": "**Updated ({n}):** {names}",
        "upload.summary_unchanged": "**Already there ({n}):** {names}",
        "upload.summary_failed": "**Could not be added ({n}):**",
        "upload.summary_time": "{chunks} passages in {seconds:.1f} s · collection **{collection}**",
        "upload.error": "Indexing failed: {error}",
        "docs.title": "Documents",
        "docs.caption": "Collection **{collection}**",
        "docs.empty": "The collection is empty: upload documents or use `rag ingest`.",
        "docs.count": "Documents",
        "docs.pages": "Pages",
        "docs.passages": "Passages",
        "docs.filter": "Search by name",
        "docs.showing": "Showing {shown} of {total}; type part of a name to find others.",
        "docs.no_match": "No document matches “{text}”.",
        "docs.meta": "{units} · {chunks} passages · {size} · indexed {date}",
        "docs.unit.page": "{n} p.",
        "docs.unit.page_one": "1 p.",
        "docs.unit.slide": "{n} slides",
        "docs.unit.slide_one": "1 slide",
        "docs.unit.section": "{n} sections",
        "docs.unit.section_one": "1 section",
        "docs.unit.sheet": "{n} sheets",
        "docs.unit.sheet_one": "1 sheet",
        "docs.unit.rows": "{n} row blocks",
        "docs.unit.rows_one": "1 row block",
        "docs.also": "Also as: {names}",
        "docs.reingest": "Re-index",
        "docs.reingest_help": "Reads the stored file again and rebuilds its passages.",
        "docs.reingest_unavailable": "The original file is no longer available; upload it again.",
        "docs.reingesting": "Re-indexing “{name}”…",
        "docs.reingested": "“{name}” was re-indexed ({chunks} passages).",
        "docs.reingest_failed": "Could not re-index “{name}”: {reason}",
        "docs.remove": "Remove",
        "docs.remove_confirm": "Remove “{name}” from the **{collection}** collection? Its passages will no longer "
                               "be used in answers.",
        "docs.remove_upload": "The stored copy of the uploaded file is deleted too.",
        "docs.reingest_about": "“Re-index” reads again the stored copy of files uploaded here, or the file in its "
                               "folder if it was added with `rag ingest`.",
        "docs.remove_yes": "Yes, remove",
        "docs.removing": "Removing “{name}”…",
        "docs.removed": "“{name}” was removed from the collection.",
        "docs.error": "The action could not be completed: {error}",
        "reason.encrypted": "password-protected: type it in “PDF or document password” and upload it again",
        "reason.legacy_word": "old Word format: save it as .docx and upload it again",
        "reason.legacy_excel": "old Excel format: save it as .xlsx and upload it again",
        "reason.legacy_powerpoint": "old PowerPoint format: save it as .pptx and upload it again",
        "reason.empty_document": "the document has no text",
        "reason.unsafe": "refused for safety: {detail}",
        "reason.wrong_password": "the password is not correct",
        "page.drawing": "Drawing the page…",
        "page.image_ocr": "This page's text was recognised by OCR from this image: where they differ, the "
                          "image is right.",
        "page.image_caption": "The page as it is in the file.",
        "page.image_caption_marked": "The page as it is in the file; the cited passage in yellow.",
        "reason.no_text": "has no text to index (a scan?)",
        "reason.no_ocr": "it is a scan and Tesseract (OCR) is needed to read it: "
                         "apt-get install tesseract-ocr tesseract-ocr-spa "
                         "(macOS: brew install tesseract tesseract-lang)",
        "reason.ocr_empty": "OCR found no text on its pages",
        "reason.no_usable_text": "its text cannot be extracted (fonts without a Unicode map)",
        "reason.damaged": "damaged file ({detail})",
        "reason.not_pdf": "not a valid PDF",
        "reason.empty": "empty file",
        "reason.unsupported": "file type not supported (PDF, Word, LibreOffice, PowerPoint, Excel, HTML, .txt, .md)",
        "reason.too_large": "over the {mb} MB limit per file",
        "reason.timeout": "took too long to read (over {detail})",
        "reason.memory": "needs too much memory to read",
        "reason.duplicate": "the same name appears twice in this upload",
    },
}
for _lang, _strings in MODEL_STRINGS.items():  # model facts, compare, votes, leaderboard (ui/i18n_models.py)
    STRINGS[_lang].update(_strings)  # type: ignore[index]

for _lang, _extra in ACCESS_STRINGS.items():  # sign-in, permissions, conversations: ui/i18n_access.py
    STRINGS[_lang].update(_extra)  # type: ignore[index]

_OVER = re.compile(r"over ([\d.]+ s)")
# The language-neutral locators of rag.locators, to translate their words (names and headings stay).
_LOC_PAGE = re.compile(r"^p\. (\d+)$")
_LOC_PAGES = re.compile(r"^pp\. (\d+)-(\d+)$")
_LOC_SLIDE = re.compile(r"^slide (\d+)$")
_LOC_SLIDES = re.compile(r"^slides (\d+)-(\d+)$")
_LOC_SHEET = re.compile(r"^sheet (.*), rows (\d+)-(\d+)$")
# Ingestion reasons (rag/ingest speak English, one line each) -> the key that explains them to staff.
_REASONS: tuple[tuple[str, str], ...] = (
    ("encrypted with aes", ""),  # a setup problem: the raw reason says what to install
    ("encrypted", "reason.encrypted"),
    ("wrong password", "reason.wrong_password"),
    ("ocr needs tesseract", "reason.no_ocr"),
    ("ocr language", ""),  # names the package to install
    ("no text found by ocr", "reason.ocr_empty"),
    ("no text layer", "reason.no_text"),
    ("no usable text", "reason.no_usable_text"),
    ("legacy word", "reason.legacy_word"),
    ("legacy excel", "reason.legacy_excel"),
    ("legacy powerpoint", "reason.legacy_powerpoint"),
    ("too large:", "reason.unsafe"),  # a zip bomb, an amplifying spreadsheet: the detail says which
    ("unsafe xml", "reason.unsafe"),
    ("damaged", "reason.damaged"),
    ("not a pdf", "reason.not_pdf"),
    ("no pages", "reason.not_pdf"),
    ("empty file", "reason.empty"),
    ("unsupported file type", "reason.unsupported"),
    ("larger than the", "reason.too_large"),
    ("took too long", "reason.timeout"),
    ("out of memory", "reason.memory"),
    ("the same file name twice", "reason.duplicate"),
    ("no text", "reason.empty_document"),  # last: "no text layer" and "not a text file" say more
)


class Translator:
    """Looks up strings for one language; a missing key falls back to Spanish, then to the key itself."""

    def __init__(self, lang: str) -> None:
        self.lang: Lang = "en" if lang == "en" else "es"

    def __call__(self, key: str, **values: object) -> str:
        text = STRINGS[self.lang].get(key) or STRINGS["es"].get(key) or key
        return text.format(**values) if values else text

    def locator(self, locator: str) -> str:
        """A ``rag.locators`` locator in the page's language: 'slide 4' -> 'diapositiva 4'."""
        if m := _LOC_PAGE.match(locator):
            return self("card.page", page=m[1])
        if m := _LOC_PAGES.match(locator):
            return self("card.pages", page=m[1], page_end=m[2])
        if m := _LOC_SLIDE.match(locator):
            return self("card.slide", n=m[1])
        if m := _LOC_SLIDES.match(locator):
            return self("card.slides", n=m[1], m=m[2])
        if m := _LOC_SHEET.match(locator):
            return self("card.sheet", name=m[1], first=m[2], last=m[3])
        return locator  # a heading path and paragraph: the document's own words and "¶"

    def reason(self, reason: str, max_upload_mb: int = 0) -> str:
        """An ingestion failure reason in the page's language (the raw reason when it is not a known one)."""
        lowered = reason.lower()
        for prefix, key in _REASONS:
            if prefix in lowered:
                if not key:
                    return reason
                over = _OVER.search(reason)
                detail = over.group(1) if over else reason.split(":", 1)[-1].strip()
                return self(key, detail=detail, mb=max_upload_mb)
        return reason
