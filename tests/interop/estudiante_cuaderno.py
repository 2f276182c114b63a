"""A student written the notebook's way (socket, 4-byte big-endian length,
UTF-8), with the reading fixed to wait for whole frames. Asks each question
once, plus one the servers must refuse, and prints every answer.

Usage: python3 estudiante_cuaderno.py HOST PORT
"""
import socket
import sys


def recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(4096, n - len(data)))
        if not chunk:
            raise ConnectionError("el servidor cerró la conexión")
        data.extend(chunk)
    return bytes(data)


def send(sock, msg):
    msg_bytes = msg.encode()
    msg_length = len(msg_bytes).to_bytes(4, byteorder="big")
    sock.sendall(msg_length + msg_bytes)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect((host, port))
    print("Cliente conectado exitosamente al servidor.", flush=True)
    for duda in ["Contenido", "Tarea", "Pregunta Dificil", "Hola"]:
        print(f"Alumno pregunta: {duda}", flush=True)
        send(sock, duda)
        length = int.from_bytes(recv_exact(sock, 4), byteorder="big")
        response = recv_exact(sock, length)
        print(f"Respuesta recibida: {response.decode()}", flush=True)
    sock.close()


if __name__ == "__main__":
    main()
