"""`kiosk demo`: the specimen city, the demo appliance (built through the same wiring as
`kiosk run`) and the terminal demo."""
