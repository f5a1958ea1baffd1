package policy

import (
	"crypto/md5" //nolint:gosec // htpasswd's $apr1$ scheme is MD5 by definition
	"crypto/subtle"
	"strings"
)

// The $apr1$ htpasswd scheme (Apache's MD5-based crypt, `htpasswd -m`, the default of older
// htpasswd versions): agentgateway's htpasswd files may hold it, as its basic-authentication example
// does. It is weak; bcrypt (`htpasswd -B`) is the one to choose.

const apr1Magic = "$apr1$"

// apr1Alphabet is crypt's base-64 alphabet.
const apr1Alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// parseAPR1 splits "$apr1$salt$hash" and checks its shape: a salt of 1 to 8 characters and a hash of
// 22 characters, both from crypt's alphabet.
func parseAPR1(h string) (salt string, ok bool) {
	rest, found := strings.CutPrefix(h, apr1Magic)
	if !found {
		return "", false
	}
	salt, sum, found := strings.Cut(rest, "$")
	if !found || len(salt) == 0 || len(salt) > 8 || len(sum) != 22 {
		return "", false
	}
	for _, s := range []string{salt, sum} {
		for i := 0; i < len(s); i++ {
			if strings.IndexByte(apr1Alphabet, s[i]) < 0 {
				return "", false
			}
		}
	}
	return salt, true
}

// apr1 computes "$apr1$salt$hash" for password.
func apr1(password, salt string) string {
	pw := []byte(password)
	alt := md5.Sum([]byte(password + salt + password)) //nolint:gosec
	ctx := md5.New()                                   //nolint:gosec
	ctx.Write([]byte(password + apr1Magic + salt))
	for n := len(pw); n > 0; n -= 16 {
		ctx.Write(alt[:min(n, 16)])
	}
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 == 1 {
			ctx.Write([]byte{0})
		} else {
			ctx.Write(pw[:1])
		}
	}
	sum := ctx.Sum(nil)
	// 1000 rounds, mixing password, salt and the previous digest in a fixed pattern.
	for i := range 1000 {
		r := md5.New() //nolint:gosec
		if i&1 == 1 {
			r.Write(pw)
		} else {
			r.Write(sum)
		}
		if i%3 != 0 {
			r.Write([]byte(salt))
		}
		if i%7 != 0 {
			r.Write(pw)
		}
		if i&1 == 1 {
			r.Write(sum)
		} else {
			r.Write(pw)
		}
		sum = r.Sum(nil)
	}
	out := make([]byte, 0, len(apr1Magic)+len(salt)+1+22)
	out = append(out, apr1Magic...)
	out = append(out, salt...)
	out = append(out, '$')
	put := func(v uint32, n int) {
		for range n {
			out = append(out, apr1Alphabet[v&0x3f])
			v >>= 6
		}
	}
	for _, g := range [][3]int{{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}} {
		put(uint32(sum[g[0]])<<16|uint32(sum[g[1]])<<8|uint32(sum[g[2]]), 4)
	}
	put(uint32(sum[11]), 2)
	return string(out)
}

// checkAPR1 compares password with an $apr1$ hash in constant time.
func checkAPR1(hash, password string) bool {
	salt, ok := parseAPR1(hash)
	if !ok {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(apr1(password, salt)), []byte(hash)) == 1
}
