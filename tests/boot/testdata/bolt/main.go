// "write" fills a bbolt database on the volume at /data in several
// transactions (big enough that bbolt remaps its file as it grows);
// "read" checks every key a previous boot left.
package main

import (
	"bytes"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

const n = 5000

func value(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100+i%300) }

func main() {
	db, err := bolt.Open("/data/app.db", 0o600, nil)
	must(err)
	switch os.Args[1] {
	case "write":
		for tx := 0; tx < 10; tx++ {
			must(db.Update(func(t *bolt.Tx) error {
				b, err := t.CreateBucketIfNotExists([]byte("things"))
				if err != nil {
					return err
				}
				for i := tx * n / 10; i < (tx+1)*n/10; i++ {
					if err := b.Put([]byte(fmt.Sprintf("key%06d", i)), value(i)); err != nil {
						return err
					}
				}
				return nil
			}))
		}
		// A second Open of the same file must fail: bbolt's flock.
		_, err := bolt.Open("/data/app.db", 0o600, &bolt.Options{Timeout: 1})
		fmt.Println("second open:", err)
		st, _ := os.Stat("/data/app.db")
		fmt.Println("written, size", st.Size())
	case "read":
		good := 0
		must(db.View(func(t *bolt.Tx) error {
			b := t.Bucket([]byte("things"))
			if b == nil {
				return fmt.Errorf("no bucket")
			}
			for i := 0; i < n; i++ {
				if bytes.Equal(b.Get([]byte(fmt.Sprintf("key%06d", i))), value(i)) {
					good++
				}
			}
			return nil
		}))
		fmt.Printf("read %d of %d\n", good, n)
	}
	must(db.Close())
}

func must(err error) {
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}
