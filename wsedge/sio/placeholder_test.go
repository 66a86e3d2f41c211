package sio

import (
	"errors"
	"testing"
)

func TestCheckPlaceholders(t *testing.T) {
	tests := []struct {
		data        string
		attachments int
		want        error // nil, ErrInvalidPlaceholder or ErrInvalidJSON
	}{
		{`["baz",{"_placeholder":true,"num":0}]`, 1, nil},
		{`["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, 2, nil},
		{`["baz",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`, 2, nil},
		{`["a",{"x":[{"y":{"_placeholder":true,"num":2}}]}]`, 3, nil},
		{`["a"]`, 1, nil}, // attachments nobody points at are allowed
		{`["a"]`, 0, nil},
		{`["a",{"_placeholder":false,"num":99}]`, 1, nil},
		{`["a",{"_placeholder":"true","num":99}]`, 1, nil},
		{`["a",{"_placeholder":1,"num":99}]`, 1, nil},
		{`["a",{"_placeholder":true,"num":99,"_placeholder":false}]`, 1, nil}, // last key wins
		{`["a",{"_placeholder":true,"num":-0}]`, 1, nil},                      // -0 >= 0 in JavaScript
		{`["a",{"_placeholder":true,"num":0.0}]`, 1, nil},
		{`["a",{"_placeholder":true,"num":1e0}]`, 2, nil},
		{`["a",{"num":0,"_placeholder":true}]`, 1, nil},
		// A placeholder replaces what it holds, so nothing inside is looked at.
		{`["a",{"_placeholder":true,"num":0,"x":{"_placeholder":true,"num":9}}]`, 1, nil},
		{`["a",{"_placeholder":true,"num":0,"x":[{"_placeholder":true}]}]`, 1, nil},
		{`{"_placeholder":true,"num":0}`, 1, nil},
		{` [ { "_placeholder" : true , "num" : 0 } ] `, 1, nil},
		{`["a",{"_placeholder":true,"num":0}]`, 0, ErrInvalidPlaceholder},
		{`["a",{"_placeholder":true,"num":1}]`, 1, ErrInvalidPlaceholder},
		{`["a",{"_placeholder":true,"num":-1}]`, 1, ErrInvalidPlaceholder},
		{`["a",{"_placeholder":true,"num":0.5}]`, 1, ErrInvalidPlaceholder}, // socket.io: undefined
		{`["a",{"_placeholder":true,"num":"0"}]`, 1, ErrInvalidPlaceholder},
		{`["a",{"_placeholder":true,"num":null}]`, 1, ErrInvalidPlaceholder},
		{`["a",{"_placeholder":true,"num":[0]}]`, 1, ErrInvalidPlaceholder},
		{`["a",{"_placeholder":true,"num":{}}]`, 1, ErrInvalidPlaceholder},
		{`["a",{"_placeholder":true}]`, 1, ErrInvalidPlaceholder},
		{`["a",{"_placeholder":true,"num":0,"num":3}]`, 1, ErrInvalidPlaceholder},
		{`["a",{"_placeholde\u0072":true,"num":4}]`, 1, ErrInvalidPlaceholder}, // escaped keys count
		{`["a",{"\u006eum":4,"_placeholder":true}]`, 1, ErrInvalidPlaceholder},
		{`["a",{"_placeholder":true,"num":1e400}]`, 1, ErrInvalidPlaceholder},
		{`["a",{"_placeholder":true,"num":12345678901234567890}]`, 1, ErrInvalidPlaceholder},
		{`["a",{"x":{"_placeholder":true,"num":1}},{"_placeholder":true,"num":0}]`, 1, ErrInvalidPlaceholder},
		{`["a",{"_placeholder":false,"x":{"_placeholder":true,"num":1}}]`, 1, ErrInvalidPlaceholder},
		{`["a",{"_placeholder":true,"num":0}`, 1, ErrInvalidJSON},
		{`["a"] x`, 1, ErrInvalidJSON},
		{``, 1, ErrInvalidJSON},
	}
	for _, tc := range tests {
		err := CheckPlaceholders([]byte(tc.data), tc.attachments)
		if tc.want == nil {
			if err != nil {
				t.Errorf("CheckPlaceholders(%s, %d): %v", tc.data, tc.attachments, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("CheckPlaceholders(%s, %d) = %v, want %v", tc.data, tc.attachments, err, tc.want)
		}
	}
	// Large attachment counts work past the integer fast path.
	if err := CheckPlaceholders([]byte(`[{"_placeholder":true,"num":1234567890}]`), 1234567891); err != nil {
		t.Errorf("large num: %v", err)
	}
	// Deep nesting (past the fixed frame buffer) still works.
	deep := []byte(`[`)
	for range 100 {
		deep = append(deep, `{"a":[`...)
	}
	deep = append(deep, `{"_placeholder":true,"num":1}`...)
	for range 100 {
		deep = append(deep, `]}`...)
	}
	deep = append(deep, ']')
	if err := CheckPlaceholders(deep, 1); !errors.Is(err, ErrInvalidPlaceholder) {
		t.Errorf("deep: %v", err)
	}
	if err := CheckPlaceholders(deep, 2); err != nil {
		t.Errorf("deep: %v", err)
	}
}
