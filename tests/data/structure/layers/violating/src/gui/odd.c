/* gui/odd */
