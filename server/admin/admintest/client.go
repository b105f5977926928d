package admintest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// Do sends a request with the given headers (none added) and returns the
// answer and its body.
func Do(tb testing.TB, method, url string, h map[string]string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, b
}

// Auth is the header that carries token.
func Auth(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// Get fetches path of the admin API at baseURL with token, expects 200
// and decodes the JSON body into v.
func Get(tb testing.TB, baseURL, token, path string, v any) {
	tb.Helper()
	resp, body := Do(tb, "GET", baseURL+path, Auth(token))
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		tb.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// User is a row of the overview, as a client sees it.
type User struct {
	ID                string  `json:"id"`
	Label             string  `json:"label"`
	LastFileAt        *string `json:"lastFileAt"`
	LastInputAt       *string `json:"lastInputAt"`
	LastInteractionAt string  `json:"lastInteractionAt"`
	CreatedAt         string  `json:"createdAt"`
	Device            struct {
		OS      string `json:"os"`
		Browser string `json:"browser"`
		Mobile  *bool  `json:"mobile"`
	} `json:"device"`
}

// List is a page of an admin list.
type List[T any] struct {
	Items []T     `json:"items"`
	Next  *string `json:"next"`
}

// AllUsers pages through the overview with query (without limit and
// cursor) and returns every row, failing on a repeated visitor.
func AllUsers(tb testing.TB, baseURL, token, query string, limit int) []User {
	tb.Helper()
	var all []User
	seen := map[string]bool{}
	cursor := ""
	for {
		var page List[User]
		Get(tb, baseURL, token, fmt.Sprintf("/admin/api/users?%s&limit=%d&cursor=%s", query, limit, cursor), &page)
		for _, u := range page.Items {
			if seen[u.ID] {
				tb.Fatalf("%s: visitor %s on two pages", query, u.ID)
			}
			seen[u.ID] = true
		}
		all = append(all, page.Items...)
		if page.Next == nil {
			return all
		}
		if len(page.Items) == 0 {
			tb.Fatalf("%s: empty page with a next cursor", query)
		}
		cursor = *page.Next
	}
}

// IDs are the users' IDs, in order.
func IDs(users []User) []string {
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	return ids
}
