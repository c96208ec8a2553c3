Content-Length: 181

{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"processId":null,"capabilities":{"general":{"positionEncodings":["utf-16"]}},"clientInfo":{"name":"examples/handshake.lsp"}}}Content-Length: 52

{"jsonrpc":"2.0","method":"initialized","params":{}}Content-Length: 193

{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///tmp/hello.py","languageId":"python","version":1,"text":"def greet(name):\n    return 'hi ' + name\n"}}}Content-Length: 48

{"jsonrpc":"2.0","id":2,"method":"sparkd/stats"}Content-Length: 44

{"jsonrpc":"2.0","id":3,"method":"shutdown"}Content-Length: 33

{"jsonrpc":"2.0","method":"exit"}