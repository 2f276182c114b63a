"""A student broken on purpose, one way per mode, for `estudiante verificar
estudiante` to catch; otherwise it does what the contract asks (retries
until Docencio listens, reads whole frames, prints every answer, stops
when Docencio closes).

Usage: python3 estudiante_roto.py MODE HOST PORT [PIDFILE]
  little-endian  sends each question's length little-endian
  callado        reads the answers but never shows them
  gira           opens a spare connection first; when Docencio closes
                 the one it uses, reads the closed socket in a loop
  demonio        otherwise right, but first starts a child that leaves
                 its process group (setsid), ignores SIGTERM, writes its
                 pid to PIDFILE and sleeps five minutes
"""
import os
import signal
import socket
import sys
import time
from random import choice


MODE = sys.argv[1]


def recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            if MODE == "gira":
                while True:
                    sock.recv(1)
            raise ConnectionError("Docencio cerró la conexión")
        data.extend(chunk)
    return bytes(data)


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "demonio":
        if os.fork() == 0:
            os.setsid()
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            with open(sys.argv[4], "w") as pidfile:
                pidfile.write(str(os.getpid()))
            time.sleep(300)
            os._exit(0)
    for _ in range(100):
        try:
            sock = socket.create_connection((host, port))
            break
        except ConnectionRefusedError:
            time.sleep(0.2)
    else:
        sys.exit("Docencio no escucha")
    if mode == "gira":
        spare = socket.create_connection((host, port))
    order = "little" if mode == "little-endian" else "big"
    try:
        while True:
            body = choice(["Contenido", "Tarea", "Pregunta Dificil"]).encode()
            sock.sendall(len(body).to_bytes(4, order) + body)
            while True:
                length = int.from_bytes(recv_exact(sock, 4), "big")
                answer = recv_exact(sock, length).decode()
                if mode != "callado":
                    print(answer, flush=True)
                if not answer.startswith("Anuncio del Profesor: "):
                    break
            time.sleep(0.2)
    except ConnectionError:
        print("Docencio cerró la conexión; fin", flush=True)


if __name__ == "__main__":
    main()
