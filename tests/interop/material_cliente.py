"""Un cliente del material escrito como en el curso: socket, struct y json.

Uso: python3 material_cliente.py HOST PUERTO NOMBRE CARPETA

Se conecta a Docencio, pide la lista del material ("archivos"), baja el
archivo NOMBRE ("bajar") a CARPETA y comprueba su SHA-256 con el que
anunció Docencio. Imprime:
  ARCHIVO <nombre> <tamano> <sha256>      (uno por archivo de la lista)
  GUARDADO <ruta> <tamano> <sha256>        (el archivo bajado, ya comprobado)
Los trozos llegan como empujes {"operacion": "trozo", "data": {"nombre",
"desde", "datos" (base64)}} y al final {"operacion": "fin", ...}.
"""
import base64
import hashlib
import json
import os
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


def enviar_mensaje(sock, operacion, data=None):
    cuerpo = json.dumps({"operacion": operacion, "data": data}).encode("utf-8")
    sock.sendall(struct.pack(">I", len(cuerpo)) + cuerpo)


def recibir_mensaje(sock):
    largo = struct.unpack(">I", recibir_bytes(sock, 4))[0]
    return json.loads(recibir_bytes(sock, largo).decode("utf-8"))


def respuesta(sock):
    """La próxima respuesta (lleva "estado"); los empujes se saltan."""
    while True:
        mensaje = recibir_mensaje(sock)
        if "estado" in mensaje:
            if mensaje["estado"] != "ok":
                raise RuntimeError(mensaje["data"])
            return mensaje["data"]


def main():
    host, puerto, nombre, carpeta = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    sock = socket.create_connection((host, puerto), timeout=20)
    enviar_mensaje(sock, "archivos")
    for archivo in respuesta(sock)["archivos"]:
        print("ARCHIVO", archivo["nombre"], archivo["tamano"], archivo["sha256"])

    enviar_mensaje(sock, "bajar", {"nombre": nombre, "desde": 0})
    anunciado = respuesta(sock)
    ruta = os.path.join(carpeta, os.path.basename(nombre))
    sha = hashlib.sha256()
    recibido = 0
    with open(ruta, "wb") as archivo:
        while True:
            mensaje = recibir_mensaje(sock)
            if mensaje.get("operacion") == "trozo" and mensaje["data"]["nombre"] == nombre:
                if mensaje["data"]["desde"] != recibido:
                    raise RuntimeError("trozo fuera de lugar")
                datos = base64.b64decode(mensaje["data"]["datos"])
                archivo.write(datos)
                sha.update(datos)
                recibido += len(datos)
            elif mensaje.get("operacion") == "fin":
                if "error" in mensaje["data"]:
                    raise RuntimeError(mensaje["data"]["error"])
                break
    if recibido != anunciado["tamano"] or sha.hexdigest() != anunciado["sha256"]:
        raise RuntimeError("el archivo no coincide con lo anunciado")
    print("GUARDADO", ruta, recibido, sha.hexdigest())
    sock.close()


if __name__ == "__main__":
    main()
