package amd64

import _ "github.com/stardust-go/stardust/kernel/internal/testboot"
