package linux

import _ "github.com/stardust-go/stardust/kernel/internal/testboot"
