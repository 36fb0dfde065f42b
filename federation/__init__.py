"""ActivityPub: AS2 rendering and parsing, HTTP Signatures, delivery, WebFinger, NodeInfo."""
