module jetscale.rig/ingress

go 1.26
