"""The notebook's Estudiante class as the notebook writes it: one thread
listens and prints every frame it gets as "Respuesta recibida: ...", another
asks random questions with a pause between them. The only changes: the
pause (PAUSA seconds instead of 1 to 6), a number of questions (then it
waits a moment and leaves), and the listener reads whole frames.

Usage: python3 estudiante_cuaderno_hilos.py HOST PORT PREGUNTAS PAUSA
"""
import socket
import sys
import threading
from random import choice
from time import sleep


class Estudiante:
    def __init__(self, port, host, preguntas, pausa):
        print("Inicializando cliente...", flush=True)
        self.host = host
        self.port = port
        self.preguntas = preguntas
        self.pausa = pausa
        self.socket_client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.connect_to_server()
        self.listen()
        self.consultar()

    def connect_to_server(self):
        self.socket_client.connect((self.host, self.port))
        print("Cliente conectado exitosamente al servidor.", flush=True)

    def listen(self):
        thread = threading.Thread(target=self.listen_thread, daemon=True)
        thread.start()

    def send(self, msg):
        msg_bytes = msg.encode()
        msg_length = len(msg_bytes).to_bytes(4, byteorder="big")
        self.socket_client.sendall(msg_length + msg_bytes)

    def recv_exact(self, n):
        data = bytearray()
        while len(data) < n:
            chunk = self.socket_client.recv(min(4096, n - len(data)))
            if not chunk:
                raise ConnectionError("el servidor cerró la conexión")
            data.extend(chunk)
        return bytes(data)

    def listen_thread(self):
        try:
            while True:
                response_length = int.from_bytes(self.recv_exact(4), byteorder="big")
                response = self.recv_exact(response_length)
                print(f"Respuesta recibida: {response.decode()}", flush=True)
        except (ConnectionError, OSError):
            pass

    def consultar(self):
        for _ in range(self.preguntas):
            duda = choice(["Contenido", "Tarea", "Pregunta Dificil"])
            print(f"Alumno pregunta: {duda}", flush=True)
            self.send(duda)
            sleep(self.pausa)
        sleep(1)
        self.socket_client.close()


if __name__ == "__main__":
    Estudiante(int(sys.argv[2]), sys.argv[1], int(sys.argv[3]), float(sys.argv[4]))
