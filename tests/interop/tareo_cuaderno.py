"""The notebook's Tareo: a thread per client, answers with the notebook's
leading spaces, asks Profesor with an HTTP GET (requests if installed, the
standard library otherwise). Reading is fixed to wait for whole frames.

Usage: python3 tareo_cuaderno.py PORT PROFESOR_URL
"""
import json
import socket
import sys
import threading
from random import choice

try:
    import requests
except ImportError:  # the standard library does the same GET
    requests = None
    import urllib.request


def get_json(url):
    if requests is not None:
        respuesta = requests.get(url, timeout=5)
        return respuesta.status_code, respuesta.json()
    with urllib.request.urlopen(url, timeout=5) as respuesta:
        return respuesta.status, json.loads(respuesta.read().decode())


def recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(4096, n - len(data)))
        if not chunk:
            raise ConnectionError("cliente desconectado")
        data.extend(chunk)
    return bytes(data)


class Tareo:
    def __init__(self, port, host, profesor_url):
        self.host = host
        self.port = port
        self.profesor_url = profesor_url
        self.respuestas = [" No puedes usar esa libreria",
                           " No es un problema de los tests",
                           " Actualizamos los tests",
                           " Puedes usar esa librería :D"]
        self.socket_server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket_server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket_server.bind((self.host, self.port))
        self.socket_server.listen()
        print(f"Servidor escuchando en {self.host}:{self.socket_server.getsockname()[1]}...", flush=True)

    def send(self, value, sock):
        msg_bytes = str(value).encode()
        sock.sendall(len(msg_bytes).to_bytes(4, byteorder="big") + msg_bytes)

    def accept_forever(self):
        while True:
            client_socket, _ = self.socket_server.accept()
            threading.Thread(target=self.listen_client_thread,
                             args=(client_socket,), daemon=True).start()

    def listen_client_thread(self, client_socket):
        print("Servidor conectado a un nuevo cliente...", flush=True)
        try:
            while True:
                length = int.from_bytes(recv_exact(client_socket, 4), byteorder="big")
                pregunta = recv_exact(client_socket, length).decode()
                print(f"Recibimos una pregunta: {pregunta}", flush=True)
                if pregunta == "Tarea":
                    self.send(choice(self.respuestas), client_socket)
                elif pregunta == "Pregunta Dificil":
                    status, body = get_json(f"{self.profesor_url}/respuesta")
                    print(f"CONSULTA AL PROFESOR: {status}", flush=True)
                    self.send(body["texto"], client_socket)
        except ConnectionError:
            client_socket.close()


if __name__ == "__main__":
    Tareo(int(sys.argv[1]), "127.0.0.1", sys.argv[2].rstrip("/")).accept_forever()
