"""Un cliente de la sala escrito como en el curso: socket, struct y json.

Uso: python3 sala_cliente.py HOST PUERTO NOMBRE [MENSAJES]

Se conecta a Docencio, dice hola con NOMBRE, hace una pregunta normal
("Tarea") entre mensajes, envía MENSAJES líneas de chat y luego espera
los mensajes de los demás hasta recibir un chat con el texto "fin".
Imprime una línea por cada cosa recibida:
  RESPUESTA <operacion> <estado> <data>   (respuesta a un pedido)
  TEXTO <texto>                            (respuesta a una pregunta)
  EMPUJE <operacion> <data>                (enviado sin pedirlo)
Una trama es un mensaje si empieza por '{'; una respuesta lleva "estado",
un empuje no.
"""
import json
import socket
import struct
import sys


def recibir_bytes(sock, cantidad):
    datos = bytearray()
    while len(datos) < cantidad:
        parte = sock.recv(cantidad - len(datos))
        if not parte:
            raise ConnectionError("Docencio cerró la conexión")
        datos.extend(parte)
    return bytes(datos)


def enviar(sock, texto):
    cuerpo = texto.encode("utf-8")
    sock.sendall(struct.pack(">I", len(cuerpo)) + cuerpo)


def enviar_mensaje(sock, operacion, data=None):
    enviar(sock, json.dumps({"operacion": operacion, "data": data}))


def recibir(sock):
    largo = struct.unpack(">I", recibir_bytes(sock, 4))[0]
    return recibir_bytes(sock, largo).decode("utf-8")


def main():
    host, puerto, nombre = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    cuantos = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    sock = socket.create_connection((host, puerto), timeout=20)
    enviar_mensaje(sock, "hola", {"nombre": nombre})
    enviar(sock, "Tarea")
    for numero in range(cuantos):
        enviar_mensaje(sock, "chat", f"{nombre} {numero}")
    if cuantos:
        enviar_mensaje(sock, "chat", "fin")
    esperadas = 2 + cuantos + (1 if cuantos else 0)
    respuestas = 0
    terminado = cuantos > 0
    while respuestas < esperadas or not terminado:
        trama = recibir(sock)
        if not trama.lstrip().startswith("{"):
            print("TEXTO", trama, flush=True)
            respuestas += 1
            continue
        mensaje = json.loads(trama)
        if "estado" in mensaje:
            respuestas += 1
            print("RESPUESTA", mensaje["operacion"], mensaje["estado"],
                  json.dumps(mensaje["data"], ensure_ascii=False), flush=True)
        else:
            print("EMPUJE", mensaje["operacion"],
                  json.dumps(mensaje["data"], ensure_ascii=False), flush=True)
            if mensaje["operacion"] == "chat" and mensaje["data"]["texto"] == "fin":
                terminado = True
    sock.close()


if __name__ == "__main__":
    main()
