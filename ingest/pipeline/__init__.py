"""The API side of ingestion, after the HTTP edge: who sent it (request.py), JSON as Spool reads it
(decode.py), each item validated (serializers.py) and prepared (prepare.py), a request's items
accepted and queued (accept.py), its rejected rows recorded (rejections.py)."""
