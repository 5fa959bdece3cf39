"""An OpenAI chat-completions client with Python's standard library only (urllib.request and json).

Usage: python3 openai_stdlib.py BASE_URL MODEL chat|stream   (the key in the LITER_KEY environment variable)

Prints one JSON line: the status, the gateway's headers, and the answer (a stream is read line by line).
"""
import json
import os
import sys
import urllib.error
import urllib.request


def main():
    base, model, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    body = {"model": model, "messages": [{"role": "user", "content": "Capital of France?"}]}
    if mode == "stream":
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    request = urllib.request.Request(
        base + "/v1/chat/completions",
        data=json.dumps(body).encode("utf-8"),
        headers={"Authorization": "Bearer " + os.environ["LITER_KEY"], "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            out = {
                "status": response.status,
                "request_id": response.headers.get("x-request-id"),
                "provider": response.headers.get("x-liter-provider"),
                "content_type": response.headers.get("content-type"),
            }
            if mode == "stream":
                deltas, usage, done = [], None, False
                for raw in response:
                    line = raw.decode("utf-8").rstrip("\r\n")
                    if not line.startswith("data: "):
                        continue
                    data = line[len("data: "):]
                    if data == "[DONE]":
                        done = True
                        break
                    chunk = json.loads(data)
                    for choice in chunk.get("choices", []):
                        content = choice.get("delta", {}).get("content")
                        if content:
                            deltas.append(content)
                    if chunk.get("usage"):
                        usage = chunk["usage"]
                out.update(deltas=deltas, usage=usage, done=done)
            else:
                answer = json.load(response)
                out.update(text=answer["choices"][0]["message"]["content"], usage=answer.get("usage"))
    except urllib.error.HTTPError as error:
        out = {"status": error.code, "request_id": error.headers.get("x-request-id"), "error": json.load(error)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
