// Fetches the URL given as its first argument with net/http and prints the
// status and body.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
)

func main() {
	resp, err := http.Get(os.Args[1])
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	fmt.Printf("status=%d body=%q err=%v\n", resp.StatusCode, body, err)
}
