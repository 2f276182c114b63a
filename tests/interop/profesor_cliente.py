"""Calls Profesor the way the notebook does (requests.get / requests.post,
or the standard library when requests is absent) and prints one JSON line
per call: {"call": ..., "status": ..., "body": ...}.

Usage: python3 profesor_cliente.py BASE_URL
"""
import json
import sys

try:
    import requests
except ImportError:
    requests = None
    import urllib.request


def call(method, url):
    if requests is not None:
        respuesta = requests.get(url) if method == "GET" else requests.post(url)
        return respuesta.status_code, respuesta.json()
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request) as respuesta:
        return respuesta.status, json.loads(respuesta.read().decode())


def main():
    base = sys.argv[1].rstrip("/")
    for method, path in [("GET", "/"), ("GET", "/respuesta"), ("GET", "/preguntas"),
                         ("POST", "/preguntas"), ("POST", "/preguntas"), ("GET", "/preguntas")]:
        status, body = call(method, base + path)
        print(json.dumps({"call": f"{method} {path}", "status": status, "body": body},
                         ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
