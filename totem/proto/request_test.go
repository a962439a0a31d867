package proto

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func pack(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseRequest: integers are checked, not wrapped; every field has one type; the
// error names the field and keeps the id when it was readable.
func TestParseRequest(t *testing.T) {
	type m = map[string]any
	tests := []struct {
		name string
		body []byte
		id   uint32 // of the error; 0 with want ""
		want string // a part of the error message; "" for no error
	}{
		{"plain", pack(t, m{"type": "join", "id": 7, "group": "g"}), 0, ""},
		{"largest id", pack(t, m{"type": "status", "id": uint64(1<<32 - 1)}), 0, ""},
		{"id as int64", pack(t, m{"type": "status", "id": int64(9)}), 0, ""},
		{"unknown key skipped", pack(t, m{"type": "status", "id": 1, "x": m{"y": []any{1, "z"}}}), 0, ""},
		{"level empty", pack(t, m{"type": "multicast", "id": 1, "group": "g", "level": ""}), 0, ""},
		{"data as str", pack(t, m{"type": "multicast", "id": 1, "group": "g", "data": "abc"}), 0, ""},
		{"id 2^32+5", pack(t, m{"type": "status", "id": uint64(1<<32 + 5)}), 0, `field "id": 4294967301 is above 4294967295`},
		{"id 2^32", pack(t, m{"type": "status", "id": uint64(1 << 32)}), 0, `field "id": 4294967296 is above`},
		{"id -2", pack(t, m{"type": "status", "id": -2}), 0, `field "id": -2 is negative`},
		{"id -200000", pack(t, m{"type": "status", "id": -200000}), 0, `field "id": -200000 is negative`},
		{"id nil", pack(t, m{"type": "status", "id": nil}), 0, `field "id": got nil, want an unsigned integer`},
		{"id float", pack(t, m{"type": "status", "id": 1.5}), 0, `field "id": got a float`},
		{"id str", pack(t, m{"type": "status", "id": "5"}), 0, `field "id": got str`},
		{"id 0", pack(t, m{"type": "status", "id": 0}), 0, `field "id" is missing or 0`},
		{"no id", pack(t, m{"type": "status"}), 0, `field "id" is missing or 0`},
		{"version 2^32", pack(t, m{"type": "hello", "id": 4, "version": uint64(1 << 32)}), 4, `field "version": 4294967296 is above`},
		{"type bin", pack(t, m{"type": []byte("status"), "id": 4}), 4, `field "type": got bin, want str`},
		{"group bin", pack(t, m{"type": "join", "id": 4, "group": []byte("g")}), 4, `field "group": got bin, want str`},
		{"group int", pack(t, m{"type": "join", "id": 5, "group": 7}), 5, `field "group": got an integer, want str`},
		{"level nil", pack(t, m{"type": "multicast", "id": 4, "group": "g", "level": nil}), 4, `field "level": got nil`},
		{"data nil", pack(t, m{"type": "multicast", "id": 4, "group": "g", "data": nil}), 4, `field "data": got nil, want bin`},
		{"data int", pack(t, m{"type": "multicast", "id": 4, "group": "g", "data": 3}), 4, `field "data": got an integer, want bin`},
		{"missing type", pack(t, m{"id": 6}), 6, `field "type" is missing or empty`},
		{"empty type", pack(t, m{"id": 6, "type": ""}), 6, `field "type" is missing or empty`},
		{"key not a str", pack(t, map[any]any{"type": "status", "id": 3, 5: 1}), 3, "a key is an integer, want str"},
		{"key twice", []byte{0x83, 0xa2, 'i', 'd', 0x03, 0xa4, 't', 'y', 'p', 'e', 0xa1, 'x', 0xa4, 't', 'y', 'p', 'e', 0xa1, 'y'}, 3, `key "type" appears twice`},
		{"id twice", []byte{0x83, 0xa4, 't', 'y', 'p', 'e', 0xa1, 'x', 0xa2, 'i', 'd', 0x03, 0xa2, 'i', 'd', 0x04}, 0, `key "id" appears twice`},
		{"trailing bytes", append(pack(t, m{"type": "status", "id": 3}), 0), 3, "1 bytes after the map"},
		{"too deep after id", append(append([]byte{0x82, 0xa2, 'i', 'd', 0x08, 0xa1, 'k'}, bytes.Repeat([]byte{0x91}, 20)...), 0xc0), 8, "nested deeper than 16"},
		{"too deep before id", append(append([]byte{0x82, 0xa1, 'k'}, bytes.Repeat([]byte{0x91}, 20)...), 0xc0, 0xa2, 'i', 'd', 0x08), 0, "nested deeper than 16"},
		{"truncated after id", []byte{0x83, 0xa2, 'i', 'd', 0x09, 0xa4, 't', 'y', 'p', 'e'}, 9, "truncated"},
		{"not a map", pack(t, []any{"status", 1}), 0, "not a msgpack map"},
		{"empty", nil, 0, "not a msgpack map"},
		{"first field error wins", pack(t, m{"id": 9, "group": 1}), 9, `field "group"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req Request
			err := ParseRequest(tt.body, &req)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want == "":
				return
			case err == nil:
				t.Fatalf("accepted %+v, want an error with %q", req, tt.want)
			case !strings.Contains(err.Msg, tt.want) || err.ID != tt.id:
				t.Fatalf("error id %d %q, want id %d and %q", err.ID, err.Msg, tt.id, tt.want)
			}
		})
	}
}

func TestParseRequestCopies(t *testing.T) {
	body := pack(t, map[string]any{"type": "multicast", "id": 1, "group": "grp", "name": "n", "data": []byte("data")})
	var req Request
	if err := ParseRequest(body, &req); err != nil {
		t.Fatal(err)
	}
	clear(body)
	if req.Group != "grp" || string(req.Data) != "data" || req.Name != "n" || req.Type != TypeMulticast {
		t.Fatalf("request changed with its buffer: %+v", req)
	}
}

func BenchmarkParseRequest(b *testing.B) {
	body := AppendMulticast(nil, 12345, "bench", "", make([]byte, 100))[HeaderSize:]
	b.ReportAllocs()
	for b.Loop() {
		var req Request
		ParseRequest(body, &req)
	}
}
