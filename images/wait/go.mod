module github.com/jetscale/stack/images/wait

go 1.22
