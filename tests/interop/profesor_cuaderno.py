"""The notebook's Profesor (a Flask app there) with the standard library's
HTTP server: same routes, same keys, same texts, and no `total` field, so
Docencio must talk to it exactly as the notebook's Docencio does.

Usage: python3 profesor_cuaderno.py PORT
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from random import choice

respuestas = ["No puedes usar esa libreria", "No es un problema de los tests",
              "Actualizamos los tests", "Puedes usar esa librería :D"]
preguntas = 0
lock = threading.Lock()


class Profesor(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, body, status=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def drain(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # ignored, as Flask's route ignores it

    def do_GET(self):
        if self.path == "/":
            self.reply({"saludo": "Bienvenido a la clase"})
        elif self.path == "/respuesta":
            self.reply({"texto": choice(respuestas), "método": "GET"})
        elif self.path == "/preguntas":
            self.reply({"texto": f"Llevamos: {preguntas} preguntas respondidas", "método": "GET"})
        else:
            self.reply({"error": "not found"}, 404)

    def do_POST(self):
        global preguntas
        self.drain()
        if self.path == "/preguntas":
            with lock:
                preguntas += 1
                texto = f"Llevamos: {preguntas} preguntas respondidas"
            self.reply({"texto": texto, "método": "POST"})
        else:
            self.reply({"error": "method not allowed"}, 405)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Profesor)
    print(f"Servidor escuchando en 127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
