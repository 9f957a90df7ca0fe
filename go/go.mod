module rtcompare

go 1.22
