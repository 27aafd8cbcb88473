"""A job's results: the ZIP downloaded (resumable, verified), checked entry by entry, and unpacked safely.

``download`` (the presigned GET with Range/If-Range resume), ``partial`` (the ``.zip.part`` and its
sidecar), ``resume`` (what a ranged answer means for the bytes on disk), ``zipcheck`` (every entry judged
before one byte is written), ``extract`` (all or nothing into the output folder), ``model`` (plain data and
errors). Nothing is imported here, so importing the package stays cheap.
"""
