module github.com/stardust-go/stardust

go 1.26
