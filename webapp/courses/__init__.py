"""Courses: manifests into the database, course media.

Other domains use only the names exported here (DESIGN.md), loaded on first use."""
from webapp.core.exports import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "CourseImportError": "catalogue",
    "import_into_db": "catalogue",
})
